/* Ends a QEMU run with a status code through semihosting SYS_EXIT_EXTENDED. */
#include "td_hal.h"

void td_exit(int code) {
    volatile uint32_t block[2] = {0x20026u, (uint32_t)code};
    register uint32_t r0 __asm("r0") = 0x20u;
    register volatile uint32_t *r1 __asm("r1") = block;
    __asm volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {}
}
