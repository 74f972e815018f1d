/* Reset handler and vector table for any Cortex-M: copy .data, clear .bss, paint the stack (for
 * its high-water mark), enable the FPU. */
#include <stdint.h>
#include "board_config.h"
#include "td_hal.h"

#define STACK_PAINT 0x5AA5C33Cu

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
int main(void);
void SysTick_Handler(void);
void td_board_init(void);
extern void (*const td_vectors[])(void);

void Reset_Handler(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    {   /* everything below the stack pointer, less a margin, is stack nobody has used yet */
        uint32_t *sp;
        __asm volatile("mov %0, sp" : "=r"(sp));
        for (dst = &_sstack; dst < sp - 16;) *dst++ = STACK_PAINT;
    }
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

uint32_t td_stack_size(void) {
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
}

uint32_t td_stack_used(void) {
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PAINT) ++p;
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
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
