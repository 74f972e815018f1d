/* The few board services the firmware needs; one implementation file per peripheral family. */
#ifndef TD_HAL_H
#define TD_HAL_H
#include <stdint.h>

void td_uart_init(void);
void td_uart_putc(char c);
int td_uart_getc(void);          /* blocks until a byte arrives */

void td_timer_init(void);
uint64_t td_timer_now(void);      /* monotonic ticks at TD_TIMER_HZ */

void td_exit(int code);           /* ends a simulation (semihosting) or parks the core */

/* "ok", or which bring-up step (board_init.c) gave up waiting, e.g. a PLL that never locked */
const char *td_clock_status(void);
/* the UART's kernel clock: the clock configuration's, or the reset one's if its set-up gave up */
uint32_t td_uart_clock_hz(void);

uint32_t td_stack_size(void);     /* bytes between the end of .bss and the top of RAM */
uint32_t td_stack_used(void);     /* the stack's high-water mark since reset */
#endif
