/* Reset handler and vector table for any Cortex-M: copy .data, clear .bss, enable the FPU. */
#include <stdint.h>
#include "board_config.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void SysTick_Handler(void);
void td_board_init(void);
extern void (*const td_vectors[])(void);

void Reset_Handler(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
#if TD_SET_VTOR
    *(volatile uint32_t *)0xE000ED08u = (uint32_t)td_vectors;  /* behind a bootloader */
#endif
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);   /* CPACR: CP10, CP11 full access */
    __asm volatile("dsb\n isb");
#endif
    td_board_init();
    main();
    for (;;) {}
}

static void Default_Handler(void) {
    for (;;) {}
}

void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));

__attribute__((section(".isr_vector"), used))
void (*const td_vectors[16 + TD_IRQ_COUNT])(void) = {
    (void (*)(void))(&_estack),
    Reset_Handler,
    Default_Handler,     /* NMI */
    HardFault_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0,
    Default_Handler,     /* SVCall */
    Default_Handler, 0,
    Default_Handler,     /* PendSV */
    SysTick_Handler,
};
