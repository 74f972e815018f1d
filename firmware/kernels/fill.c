/* FILL and ZEROS_LIKE, any type (tinydeploy/ops/fill.py): the first element is copied from
 * `value`, then the filled part of the output doubles with each copy. */
#include "td_kernels.h"
#include <string.h>

void td_fill(const td_fill_params *p, const uint8_t *value, uint8_t *out) {
    const int32_t total = p->count * p->elem;
    if (total <= 0) return;
    if (p->elem == 1) {
        memset(out, value[0], (size_t)total);
        return;
    }
    memcpy(out, value, (size_t)p->elem);
    for (int32_t done = p->elem; done < total; done *= 2) {
        const int32_t n = done < total - done ? done : total - done;
        memcpy(out + done, out, (size_t)n);
    }
}
