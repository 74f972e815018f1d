/* EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL on int8 with 4-D broadcasting: both
 * inputs rescaled to a common scale (TFLite's ComparisonWithScaling: a table per input, computed by
 * the compiler), then compared. The output is bool. */
#include "td_kernels.h"
#include "td_compare.h"

void td_compare_s8(const td_compare_params *p, const int8_t *in1, const int8_t *in2,
                   uint8_t *out) {
    const int32_t *t1 = p->table1, *t2 = p->table2;
#define VALUE1(i) t1[(uint8_t)in1[i]]
#define VALUE2(i) t2[(uint8_t)in2[i]]
    TD_COMPARE_SWITCH(p, out)
#undef VALUE1
#undef VALUE2
}
