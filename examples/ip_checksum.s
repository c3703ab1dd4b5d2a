# Verifies the checksum of the IPv4 header in memory (r1 = header, r2 = length).
# r0 is 0 when the header is intact, another value when it is corrupt, and
# 0xffffffffffffffff when the header is shorter than 20 bytes.
    r0 = 0                  # running one's-complement sum
    r3 = 0                  # offset into the header
    if r2 < 20 goto short
loop:
    r4 = r1
    r4 += r3
    r5 = *(u16 *)(r4 + 0)   # 16-bit words in network byte order
    r5 = be16 r5
    r0 += r5
    r3 += 2
    if r3 < r2 goto loop
fold:
    r4 = r0                 # fold the carries back into 16 bits
    r4 >>= 16
    r0 &= 0xffff
    r0 += r4
    r4 = r0
    r4 >>= 16
    if r4 != 0 goto fold
    r0 ^= 0xffff
    exit
short:
    r0 = -1
    exit
