/*
 * Prints libpcap's bpf_image() for every 8-bit opcode with a few operand
 * values, one "n code jt jf k<TAB>image" line each, so that the Rust listing
 * can be compared against libpcap itself. Built and run by make_goldens.sh.
 */
#include <pcap/pcap.h>
#include <stdio.h>

char *bpf_image(const struct bpf_insn *, int);

int main(void)
{
	static const unsigned int ks[] = { 0, 12, 0x800, 0x7fffffff, 0x80000000, 0xffffffff };
	for (unsigned int code = 0; code < 0x100; code++) {
		for (unsigned int i = 0; i < sizeof ks / sizeof ks[0]; i++) {
			struct bpf_insn insn = { (unsigned short)code, 3, 250, ks[i] };
			int n = (int)(code + i * 7) % 1000;
			printf("%d %u %u %u %u\t%s\n", n, insn.code, insn.jt, insn.jf, insn.k,
			       bpf_image(&insn, n));
		}
	}
	return 0;
}
