/* Row copies shared by the data-movement kernels (remap.c, split.c, gather.c, ...). They move
 * bytes, whatever the tensor type: `unit` (1, 2 or 4) is an alignment the caller guarantees for
 * both pointers and the length, so a row of int16 or int32/float values moves a word or halfword
 * at a time without unaligned accesses (which Cortex-M0 does not have). */
#ifndef TD_MOVE_H
#define TD_MOVE_H
#include <stdint.h>
#include <string.h>

static inline void td_move_row(uint8_t *dst, const uint8_t *src, int32_t n, int32_t unit) {
    if (n >= 32) {
        memcpy(dst, src, (size_t)n);
    } else if (unit == 4) {
        uint32_t *d = (uint32_t *)(void *)dst;
        const uint32_t *s = (const uint32_t *)(const void *)src;
        for (n >>= 2; n > 0; --n) *d++ = *s++;
    } else if (unit == 2) {
        uint16_t *d = (uint16_t *)(void *)dst;
        const uint16_t *s = (const uint16_t *)(const void *)src;
        for (n >>= 1; n > 0; --n) *d++ = *s++;
    } else {
        for (; n > 0; --n) *dst++ = *src++;
    }
}

#endif
