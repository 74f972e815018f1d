/* READ_VARIABLE and ASSIGN_VARIABLE: a resource variable is a buffer of the persistent state;
 * reading copies it into a tensor, assigning copies a tensor into it. */
#include <string.h>
#include "td_kernels.h"

void td_variable_copy(const td_variable_params *p, const void *from, void *to) {
    memcpy(to, from, (size_t)p->bytes);
}
