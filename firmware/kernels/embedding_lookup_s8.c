/* EMBEDDING_LOOKUP, int32 ids into an int8 table: each output row copies the table row its id
 * names. An id outside the table (TFLite stops with an error there) gives a row of p->fill, the
 * output zero point, so nothing is read outside the table. */
#include "td_kernels.h"

void td_embedding_lookup_s8(const td_embedding_params *p, const int32_t *ids, const int8_t *table,
                            int8_t *out) {
    for (int32_t i = 0; i < p->ids; ++i) {
        const int32_t id = ids[i];
        int8_t *dst = out + i * p->row_size;
        if (id >= 0 && id < p->rows) {
            const int8_t *src = table + id * p->row_size;
            for (int32_t k = 0; k < p->row_size; ++k) dst[k] = src[k];
        } else {
            for (int32_t k = 0; k < p->row_size; ++k) dst[k] = (int8_t)p->fill;
        }
    }
}
