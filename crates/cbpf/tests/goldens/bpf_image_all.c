/*
 * Prints libpcap's bpf_image() for every 8-bit opcode with a few operand
 * values, one "n code jt jf k<TAB>image" line each, so that the Rust listing
 * can be compared against libpcap itself; with an argument (-dd or -ddd),
 * libpcap's bpf_dump of one instruction per opcode. Built and run by
 * make_goldens.sh.
 */
#include <pcap/pcap.h>
#include <stdio.h>

char *bpf_image(const struct bpf_insn *, int);

int main(int argc, char **argv)
{
	static const unsigned int ks[] = { 0, 12, 0x800, 0x7fffffff, 0x80000000, 0xffffffff,
					   0xfffff000, 0xfffff02c, 0xfffff030, 0xffe00000 };
	if (argc > 1) {
		/* "-dd"/"-ddd": bpf_dump of one instruction per opcode. */
		static struct bpf_insn insns[256];
		for (unsigned int code = 0; code < 0x100; code++) {
			struct bpf_insn insn = { (unsigned short)code, (unsigned char)(code % 7),
						 (unsigned char)(255 - code), ks[code % 10] };
			insns[code] = insn;
		}
		struct bpf_program prog = { 256, insns };
		bpf_dump(&prog, argv[1][3] == 'd' ? 3 : 2);
		return 0;
	}
	for (unsigned int code = 0; code < 0x100; code++) {
		for (unsigned int i = 0; i < sizeof ks / sizeof ks[0]; i++) {
			struct bpf_insn insn = { (unsigned short)code, 3, 250, ks[i] };
			int n = (int)(code + i * 7) % 1000;
			printf("%d %u %u %u %u\t%s\n", n, insn.code, insn.jt, insn.jf, insn.k,
			       bpf_image(&insn, n));
		}
	}
	/* Linux's ancillary offsets (SKF_AD_OFF + n), which libpcap names. */
	static const unsigned short loads[] = { 0x20, 0x28, 0x30, 0x40, 0x48, 0x50 };
	for (unsigned int i = 0; i < sizeof loads / sizeof loads[0]; i++) {
		for (unsigned int n = 0; n <= 0x48; n += 2) {
			struct bpf_insn insn = { loads[i], 0, 0, 0xfffff000u + n };
			printf("%d %u %u %u %u\t%s\n", (int)n, insn.code, insn.jt, insn.jf, insn.k,
			       bpf_image(&insn, (int)n));
		}
	}
	return 0;
}
