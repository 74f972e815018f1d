/* Arm CMSDK APB UART (the MPS2/MPS3 boards QEMU emulates). */
#include "board_config.h"
#include "td_hal.h"

#define UART_DATA (*(volatile uint32_t *)(TD_UART_BASE + 0x00))
#define UART_STATE (*(volatile uint32_t *)(TD_UART_BASE + 0x04))
#define UART_CTRL (*(volatile uint32_t *)(TD_UART_BASE + 0x08))
#define UART_BAUDDIV (*(volatile uint32_t *)(TD_UART_BASE + 0x10))

void td_uart_init(void) {
    UART_BAUDDIV = TD_UART_CLOCK_HZ / TD_UART_BAUD > 16 ? TD_UART_CLOCK_HZ / TD_UART_BAUD : 16;
    UART_CTRL = 3;               /* TX and RX enable */
    (void)UART_DATA;             /* a first dummy read keeps the first host line from stalling */
}

void td_uart_putc(char c) {
    while (UART_STATE & 1u) {}
    UART_DATA = (uint8_t)c;
}

int td_uart_getc(void) {
    while (!(UART_STATE & 2u)) {}
    return (int)(UART_DATA & 0xFFu);
}
