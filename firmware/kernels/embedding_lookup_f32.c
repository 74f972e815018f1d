/* EMBEDDING_LOOKUP, int32 ids into a float32 table: each output row copies the table row its id
 * names (copies: exact on every core). An id outside the table (TFLite stops with an error there)
 * gives a row of 0.0, so nothing is read outside the table. */
#include "td_kernels.h"

void td_embedding_lookup_f32(const td_embedding_params *p, const int32_t *ids, const float *table,
                             float *out) {
    for (int32_t i = 0; i < p->ids; ++i) {
        const int32_t id = ids[i];
        float *dst = out + i * p->row_size;
        if (id >= 0 && id < p->rows) {
            const float *src = table + id * p->row_size;
            for (int32_t k = 0; k < p->row_size; ++k) dst[k] = src[k];
        } else {
            for (int32_t k = 0; k < p->row_size; ++k) dst[k] = 0.0f;
        }
    }
}
