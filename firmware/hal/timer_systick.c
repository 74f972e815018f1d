/* SysTick as a 64-bit tick counter (24-bit hardware counter plus a wrap count).
 * In QEMU with -icount shift=0 it advances with executed instructions, so it is exact. */
#include "board_config.h"
#include "td_hal.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define RELOAD 0x00FFFFFFu

static volatile uint32_t wraps;

void SysTick_Handler(void) { ++wraps; }

void td_timer_init(void) {
    SYST_RVR = RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 7;                     /* processor clock, interrupt, enable */
    while (SYST_CVR == 0) {}          /* reads 0 until the first reload */
}

uint64_t td_timer_now(void) {
    uint32_t w1, w2, v;
    do {
        w1 = wraps;
        v = SYST_CVR;
        w2 = wraps;
    } while (w1 != w2);
    return (uint64_t)w1 * (RELOAD + 1u) + (RELOAD - v);
}
