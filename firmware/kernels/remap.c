/* Type-agnostic gather through per-dimension offset tables (tinydeploy/ops/remap.py): TRANSPOSE,
 * STRIDED_SLICE, SLICE, REVERSE_V2, BROADCAST_TO, MIRROR_PAD, DEPTH_TO_SPACE, SPACE_TO_DEPTH,
 * BATCH_TO_SPACE_ND, SHAPE. Position (i0, ..., in-1) copies row_bytes from
 * in + base + T0[i0] + ... + Tn-1[in-1] to out + i0 * out_strides[0] + ... An odometer keeps the
 * partial sums of the outer dimensions, so each row costs a table load and two adds; the last
 * dimension (the longest where the output's own innermost one is short) is the inner loop. */
#include "td_kernels.h"
#include "td_move.h"

void td_remap(const td_remap_params *p, const uint8_t *in, uint8_t *out) {
    const int32_t rank = p->rank, rb = p->row_bytes, unit = p->unit;
    const uint8_t *src0 = in + p->base;
    const int32_t *tab[TD_REMAP_MAX_RANK];
    int32_t idx[TD_REMAP_MAX_RANK], acc[TD_REMAP_MAX_RANK], oacc[TD_REMAP_MAX_RANK];
    if (rank == 0) {
        td_move_row(out, src0, rb, unit);
        return;
    }
    const int32_t *t = p->tables;
    for (int32_t d = 0; d < rank; ++d) {
        if (p->dims[d] <= 0) return;
        tab[d] = t;
        t += p->dims[d];
        idx[d] = 0;
    }
    /* acc[d], oacc[d]: source and output offsets of dimensions 0..d-1 at the current indices */
    acc[0] = oacc[0] = 0;
    for (int32_t d = 1; d < rank; ++d) {
        acc[d] = acc[d - 1] + tab[d - 1][0];
        oacc[d] = oacc[d - 1];
    }
    const int32_t n = p->dims[rank - 1], os = p->out_strides[rank - 1];
    const int32_t *last = tab[rank - 1];
    for (;;) {
        const uint8_t *src = src0 + acc[rank - 1];
        uint8_t *dst = out + oacc[rank - 1];
        if (rb == 1) {
            if (os == 1) {
                for (int32_t i = 0; i < n; ++i) dst[i] = src[last[i]];
            } else {
                for (int32_t i = 0; i < n; ++i, dst += os) *dst = src[last[i]];
            }
        } else if (rb == 4 && unit == 4) { /* one int32/float element per row */
            for (int32_t i = 0; i < n; ++i, dst += os)
                *(uint32_t *)(void *)dst = *(const uint32_t *)(const void *)(src + last[i]);
        } else if (rb == 2 && unit == 2) { /* one int16 element per row */
            for (int32_t i = 0; i < n; ++i, dst += os)
                *(uint16_t *)(void *)dst = *(const uint16_t *)(const void *)(src + last[i]);
        } else {
            for (int32_t i = 0; i < n; ++i, dst += os) td_move_row(dst, src + last[i], rb, unit);
        }
        int32_t d = rank - 2;
        while (d >= 0 && ++idx[d] == p->dims[d]) idx[d--] = 0;
        if (d < 0) return;
        for (; d < rank - 1; ++d) {
            acc[d + 1] = acc[d] + tab[d][idx[d]];
            oacc[d + 1] = oacc[d] + idx[d] * p->out_strides[d];
        }
    }
}
