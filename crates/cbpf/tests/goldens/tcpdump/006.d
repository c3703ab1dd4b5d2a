(000) ldh      [12]
(001) jeq      #0x86dd          jt 2	jf 8
(002) ldb      [20]
(003) jeq      #0x6             jt 4	jf 21
(004) ldh      [54]
(005) jeq      #0x50            jt 18	jf 6
(006) ldh      [56]
(007) jeq      #0x50            jt 18	jf 21
(008) jeq      #0x800           jt 9	jf 21
(009) ldb      [23]
(010) jeq      #0x6             jt 11	jf 21
(011) ldh      [20]
(012) jset     #0x1fff          jt 21	jf 13
(013) ldxb     4*([14]&0xf)
(014) ldh      [x + 14]
(015) jeq      #0x50            jt 18	jf 16
(016) ldh      [x + 16]
(017) jeq      #0x50            jt 18	jf 21
(018) ld       #pktlen
(019) jgt      #0x64            jt 20	jf 21
(020) ret      #262144
(021) ret      #0
