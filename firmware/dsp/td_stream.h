/* Always-on keyword spotting: audio arrives in pieces of any length; every 20 ms hop the front end
 * computes only the newest MFCC row into a ring of the last 49 rows, and the caller runs the model
 * on the ring every `every` hops. Posteriors are averaged over the last `window` inferences and a
 * keyword class whose average reaches the threshold is reported once, then no detection is made
 * for `refractory` hops. Usable without the protocol: td_stream_push, then td_stream_hop each time
 * it returns 1, td_stream_due, td_stream_input, the model, td_stream_decide. */
#ifndef TD_STREAM_H
#define TD_STREAM_H
#include <stdint.h>
#include "td_mfcc.h"

#define TD_STREAM_ROWS 49               /* one second of features */
#define TD_STREAM_MAX_WINDOW 16         /* inferences averaged at most */
#define TD_STREAM_MAX_CLASSES 32

typedef struct {
    int32_t every;                      /* hops between inferences (>= 1) */
    int32_t window;                     /* inferences averaged (1..TD_STREAM_MAX_WINDOW) */
    float threshold;                    /* averaged probability that makes a detection */
    int32_t refractory;                 /* hops after a detection in which none is made */
    uint32_t ignore;                    /* bit c set: class c is never reported (_silence_...) */
} td_stream_config;

typedef struct {
    td_stream_config cfg;
    int16_t samples[TD_MFCC_FRAME_SAMPLES];
    int32_t filled;                     /* samples waiting in `samples` */
    int8_t rows[TD_STREAM_ROWS][TD_MFCC_NUM_COEFFS];
    int32_t next_row, rows_ready;       /* ring position; rows computed so far (saturates) */
    uint32_t hops;                      /* rows computed since the start */
    uint32_t consumed;                  /* samples taken in since the start */
    int8_t post[TD_STREAM_MAX_WINDOW][TD_STREAM_MAX_CLASSES];
    int32_t post_next, post_count;
    int32_t quiet;                      /* hops left in the refractory period */
} td_stream;

typedef struct {
    int32_t label;                      /* class index, -1 when nothing is detected */
    float score;                        /* averaged probability of that class */
} td_detection;

/* Start over (a new stream) with this configuration. */
void td_stream_reset(td_stream *s, const td_stream_config *cfg);

/* Takes samples from x (at most n) until a hop's frame is complete; *used says how many were
 * taken. Returns 1 when td_stream_hop must be called before pushing more. */
int td_stream_push(td_stream *s, const int16_t *x, int32_t n, int32_t *used);

/* Computes the complete frame's MFCC row into the ring, quantized to the model's input. */
void td_stream_hop(td_stream *s, float scale, int32_t zero_point);

/* 1 when the ring holds a full second and this hop is one to infer on. */
int td_stream_due(const td_stream *s);

/* The ring in time order: the model's 49x10 int8 input. */
void td_stream_input(const td_stream *s, int8_t *dst);

/* Adds one inference's int8 output (softmax probabilities: classes values, dequantized with
 * scale and zero_point) to the window and decides whether it makes a detection. */
td_detection td_stream_decide(td_stream *s, const int8_t *out, int32_t classes, float scale,
                              int32_t zero_point);
#endif
