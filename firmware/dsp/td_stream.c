/* Streaming keyword spotting: feature ring, posterior smoothing, detection (td_stream.h). */
#include <string.h>
#include "td_stream.h"

void td_stream_reset(td_stream *s, const td_stream_config *cfg) {
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    if (s->cfg.every < 1) s->cfg.every = 1;
    if (s->cfg.window < 1) s->cfg.window = 1;
    if (s->cfg.window > TD_STREAM_MAX_WINDOW) s->cfg.window = TD_STREAM_MAX_WINDOW;
}

int td_stream_push(td_stream *s, const int16_t *x, int32_t n, int32_t *used) {
    int32_t take = TD_MFCC_FRAME_SAMPLES - s->filled;
    if (take > n) take = n;
    memcpy(s->samples + s->filled, x, (size_t)take * sizeof(int16_t));
    s->filled += take;
    s->consumed += (uint32_t)take;
    *used = take;
    return s->filled == TD_MFCC_FRAME_SAMPLES;
}

void td_stream_hop(td_stream *s, float scale, int32_t zero_point) {
    enum { KEEP = TD_MFCC_FRAME_SAMPLES - TD_MFCC_HOP_SAMPLES };
    td_mfcc_frame_s8(s->samples, scale, zero_point, s->rows[s->next_row]);
    s->next_row = (s->next_row + 1) % TD_STREAM_ROWS;
    if (s->rows_ready < TD_STREAM_ROWS) ++s->rows_ready;
    ++s->hops;
    if (s->quiet > 0) --s->quiet;
    /* the next frame starts one hop later: keep the overlap */
    memmove(s->samples, s->samples + TD_MFCC_HOP_SAMPLES, KEEP * sizeof(int16_t));
    s->filled = KEEP;
}

int td_stream_due(const td_stream *s) {
    return s->rows_ready == TD_STREAM_ROWS
           && (s->hops - TD_STREAM_ROWS) % (uint32_t)s->cfg.every == 0;
}

void td_stream_input(const td_stream *s, int8_t *dst) {
    const int32_t older = TD_STREAM_ROWS - s->next_row;  /* rows from next_row to the end */
    memcpy(dst, s->rows[s->next_row], (size_t)older * TD_MFCC_NUM_COEFFS);
    memcpy(dst + older * TD_MFCC_NUM_COEFFS, s->rows[0],
           (size_t)s->next_row * TD_MFCC_NUM_COEFFS);
}

td_detection td_stream_decide(td_stream *s, const int8_t *out, int32_t classes, float scale,
                              int32_t zero_point) {
    td_detection d = {-1, 0.0f};
    if (classes > TD_STREAM_MAX_CLASSES) classes = TD_STREAM_MAX_CLASSES;
    memcpy(s->post[s->post_next], out, (size_t)classes);
    s->post_next = (s->post_next + 1) % s->cfg.window;
    if (s->post_count < s->cfg.window) ++s->post_count;
    for (int32_t c = 0; c < classes; ++c) {
        if (s->cfg.ignore >> c & 1u) continue;
        int32_t sum = 0;
        for (int32_t i = 0; i < s->post_count; ++i) sum += s->post[i][c] - zero_point;
        const float p = (float)sum * scale / (float)s->post_count;
        if (p > d.score) { d.score = p; d.label = c; }
    }
    if (d.label < 0 || d.score < s->cfg.threshold || s->quiet > 0) {
        d.label = -1;
        return d;
    }
    s->quiet = s->cfg.refractory;
    return d;
}
