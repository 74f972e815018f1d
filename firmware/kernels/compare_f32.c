/* The comparisons on float32 with 4-D broadcasting (IEEE: NaN compares unequal to everything);
 * the output is bool. */
#include "td_kernels.h"
#include "td_compare.h"

void td_compare_f32(const td_compare_params *p, const float *in1, const float *in2,
                    uint8_t *out) {
#define VALUE1(i) in1[i]
#define VALUE2(i) in2[i]
    TD_COMPARE_SWITCH(p, out)
#undef VALUE1
#undef VALUE2
}
