/* Nordic UART (legacy, non-DMA), the same on nRF51 and nRF52. Pins are selected by the board
 * file's init steps (PSELTXD/PSELRXD); the baud register follows from the 16 MHz UART clock. */
#include <stdint.h>
#include "board_config.h"
#include "td_hal.h"

#define UART_REG(off) (*(volatile uint32_t *)(TD_UART_BASE + (off)))
#define TASKS_STARTRX UART_REG(0x000)
#define TASKS_STARTTX UART_REG(0x008)
#define EVENTS_RXDRDY UART_REG(0x108)
#define EVENTS_TXDRDY UART_REG(0x11C)
#define UART_ENABLE UART_REG(0x500)
#define UART_RXD UART_REG(0x518)
#define UART_TXD UART_REG(0x51C)
#define UART_BAUDRATE UART_REG(0x524)

void td_uart_init(void) {
    uint32_t reg = (uint32_t)((((uint64_t)TD_UART_BAUD << 32) / 16000000u + 0x800u) & ~0xFFFu);
    UART_BAUDRATE = reg;
    UART_ENABLE = 4;
    EVENTS_TXDRDY = 0;
    EVENTS_RXDRDY = 0;
    TASKS_STARTTX = 1;
    TASKS_STARTRX = 1;
}

void td_uart_putc(char c) {
    EVENTS_TXDRDY = 0;
    UART_TXD = (uint8_t)c;
    while (!EVENTS_TXDRDY) {}
}

int td_uart_getc(void) {
    while (!EVENTS_RXDRDY) {}
    EVENTS_RXDRDY = 0;
    return (int)(UART_RXD & 0xFFu);
}
