/* STM32 USART/LPUART, second register layout (L4/F7/H7: CR1, BRR, ISR, RDR, TDR).
 * LPUART's divisor is 256 * f / baud: the board file sets uart.brr_scale = 256 for it. */
#include <stdint.h>
#include "board_config.h"
#include "td_hal.h"

#define USART_CR1 (*(volatile uint32_t *)(TD_UART_BASE + 0x00))
#define USART_BRR (*(volatile uint32_t *)(TD_UART_BASE + 0x0C))
#define USART_ISR (*(volatile uint32_t *)(TD_UART_BASE + 0x1C))
#define USART_RDR (*(volatile uint32_t *)(TD_UART_BASE + 0x24))
#define USART_TDR (*(volatile uint32_t *)(TD_UART_BASE + 0x28))

void td_uart_init(void) {
    USART_CR1 = 0;
    USART_BRR = (uint32_t)(((uint64_t)td_uart_clock_hz() * TD_UART_BRR_SCALE + TD_UART_BAUD / 2u)
                           / TD_UART_BAUD);
    USART_CR1 = (1u << 3) | (1u << 2) | 1u;           /* TE, RE, UE */
}

void td_uart_putc(char c) {
    while (!(USART_ISR & (1u << 7))) {}               /* TXE */
    USART_TDR = (uint8_t)c;
}

int td_uart_getc(void) {
    while (!(USART_ISR & (1u << 5))) {}               /* RXNE */
    return (int)(USART_RDR & 0xFFu);
}
