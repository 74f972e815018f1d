/* SPLIT, SPLIT_V and UNPACK, any type (tinydeploy/ops/split.py): the input is `outer` rows of
 * `row` bytes; output k receives the next sizes[k] bytes of every row, so one pass over the
 * input writes all outputs. */
#include "td_kernels.h"
#include "td_move.h"

void td_split(const td_split_params *p, const uint8_t *in, uint8_t *const *outs) {
    for (int32_t o = 0; o < p->outer; ++o) {
        const uint8_t *src = in + o * p->row;
        for (int32_t k = 0; k < p->n_outputs; ++k) {
            const int32_t n = p->sizes[k];
            td_move_row(outs[k] + o * n, src, n, p->unit);
            src += n;
        }
    }
}
