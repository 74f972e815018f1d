/* The comparisons on int32 with 4-D broadcasting; the output is bool. */
#include "td_kernels.h"
#include "td_compare.h"

void td_compare_s32(const td_compare_params *p, const int32_t *in1, const int32_t *in2,
                    uint8_t *out) {
#define VALUE1(i) in1[i]
#define VALUE2(i) in2[i]
    TD_COMPARE_SWITCH(p, out)
#undef VALUE1
#undef VALUE2
}
