(000) ldh      [12]
(001) jeq      #0x800           jt 2	jf 15
(002) ldb      [14]
(003) and      #0xf0
(004) jeq      #0x40            jt 5	jf 14
(005) ldb      [23]
(006) jeq      #0x6             jt 7	jf 15
(007) ldh      [20]
(008) jset     #0x1fff          jt 15	jf 9
(009) ldxb     4*([14]&0xf)
(010) ldb      [x + 27]
(011) lsh      #2
(012) rsh      #2
(013) jeq      #0x7             jt 14	jf 15
(014) ret      #262144
(015) ret      #0
