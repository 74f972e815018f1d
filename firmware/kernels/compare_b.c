/* EQUAL and NOT_EQUAL on bool with 4-D broadcasting (any nonzero byte is true). */
#include "td_kernels.h"
#include "td_compare.h"

void td_compare_b(const td_compare_params *p, const uint8_t *in1, const uint8_t *in2,
                  uint8_t *out) {
#define VALUE1(i) (in1[i] != 0)
#define VALUE2(i) (in2[i] != 0)
    TD_COMPARE_SWITCH(p, out)
#undef VALUE1
#undef VALUE2
}
