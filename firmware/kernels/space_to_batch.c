/* SPACE_TO_BATCH_ND, any type (tinydeploy/ops/space_depth.py): output batch ob takes input batch
 * ob % in_batch at the block offset (ob / in_batch) / block_w, (ob / in_batch) % block_w;
 * pixels that fall in the padding get pad_value, as LiteRT pads (the zero point of 8- and
 * 16-bit types). */
#include "td_kernels.h"
#include "td_move.h"

static void fill_pixel(uint8_t *dst, int32_t bytes, int32_t elem, int32_t value) {
    if (elem == 2) {
        uint16_t *d = (uint16_t *)(void *)dst;
        for (int32_t i = 0; i < bytes / 2; ++i) d[i] = (uint16_t)value;
    } else {
        memset(dst, elem == 1 ? (uint8_t)value : 0, (size_t)bytes);
    }
}

void td_space_to_batch(const td_space_to_batch_params *p, const uint8_t *in, uint8_t *out) {
    const int32_t db = p->depth_bytes, unit = p->elem < 4 ? p->elem : 4;
    for (int32_t ob = 0; ob < p->out_batch; ++ob) {
        const int32_t b = ob % p->in_batch, shift = ob / p->in_batch;
        const int32_t sh = shift / p->block_w, sw = shift % p->block_w;
        for (int32_t oh = 0; oh < p->out_h; ++oh) {
            const int32_t ih = oh * p->block_h + sh - p->pad_top;
            for (int32_t ow = 0; ow < p->out_w; ++ow, out += db) {
                const int32_t iw = ow * p->block_w + sw - p->pad_left;
                if (ih < 0 || ih >= p->in_h || iw < 0 || iw >= p->in_w) {
                    fill_pixel(out, db, p->elem, p->pad_value);
                } else {
                    td_move_row(out, in + ((b * p->in_h + ih) * p->in_w + iw) * db, db, unit);
                }
            }
        }
    }
}
