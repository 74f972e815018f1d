/* The comparison kernels' loop: one per operation, so the test is hoisted out of the elements.
 * A kernel defines VALUE1(i) and VALUE2(i), the values compared at input offsets i. */
#ifndef TD_COMPARE_H
#define TD_COMPARE_H
#include "td_broadcast.h"

#define TD_COMPARE_LOOP(p, out, cmp)                                                             \
    TD_BROADCAST2((p)->out_dims, (p)->in1_strides, (p)->in2_strides, i1, i2)                    \
        *(out)++ = (uint8_t)(VALUE1(i1) cmp VALUE2(i2))

#define TD_COMPARE_SWITCH(p, out)                                                                \
    switch ((p)->op) {                                                                           \
    case TD_CMP_EQUAL: TD_COMPARE_LOOP(p, out, ==); break;                                       \
    case TD_CMP_NOT_EQUAL: TD_COMPARE_LOOP(p, out, !=); break;                                   \
    case TD_CMP_LESS: TD_COMPARE_LOOP(p, out, <); break;                                         \
    case TD_CMP_LESS_EQUAL: TD_COMPARE_LOOP(p, out, <=); break;                                  \
    case TD_CMP_GREATER: TD_COMPARE_LOOP(p, out, >); break;                                      \
    default: TD_COMPARE_LOOP(p, out, >=); break;                                                 \
    }
#endif
