/* Write checking for debug builds (-DTD_CHECK_WRITES; host only, it allocates): before each
 * kernel call the arena and state are copied, including TD_GUARD bytes on either side of each,
 * which the caller allocates; after the call every changed byte must lie inside one of the
 * layer's allowed ranges (its outputs and scratch). Anything else is a kernel writing outside
 * its tensors: the run aborts, naming the layer and the offset. */
#ifdef TD_CHECK_WRITES
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "td_runtime.h"

#define TD_GUARD 64

static const int8_t *regions[2];
static int32_t sizes[2];
static int8_t *copies[2];
static int32_t capacity[2];

void td_check_begin(const int8_t *arena, int32_t arena_bytes, const int8_t *state,
                    int32_t state_bytes) {
    regions[0] = arena;
    regions[1] = state;
    sizes[0] = arena_bytes;
    sizes[1] = state_bytes;
    for (int r = 0; r < 2; ++r) {
        const int32_t n = sizes[r] + 2 * TD_GUARD;
        if (capacity[r] < n) {
            free(copies[r]);
            copies[r] = (int8_t *)malloc((size_t)n);
            if (!copies[r]) abort();
            capacity[r] = n;
        }
        if (regions[r]) memcpy(copies[r], regions[r] - TD_GUARD, (size_t)n);
    }
}

void td_check_end(const char *layer, const td_write_range *allowed, int32_t n) {
    for (int r = 0; r < 2; ++r) {
        if (!regions[r]) continue;
        const int8_t *now = regions[r] - TD_GUARD;
        for (int32_t i = 0; i < sizes[r] + 2 * TD_GUARD; ++i) {
            if (now[i] == copies[r][i]) continue;
            const int32_t at = i - TD_GUARD;
            int ok = 0;
            for (int32_t k = 0; k < n && !ok; ++k)
                ok = allowed[k].region == r && at >= allowed[k].offset
                     && at < allowed[k].offset + allowed[k].bytes;
            if (!ok) {
                fprintf(stderr, "td-check: layer %s wrote %s byte %ld outside its tensors\n",
                        layer, r ? "state" : "arena", (long)at);
                abort();
            }
        }
    }
}
#else
typedef int td_check_unused; /* ISO C wants something in a translation unit */
#endif
