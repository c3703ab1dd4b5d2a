(000) ldh      [12]
(001) jeq      #0x800           jt 2	jf 18
(002) ldb      [14]
(003) and      #0xf
(004) tax      
(005) ldb      [x + 14]
(006) jeq      #0x2             jt 17	jf 7
(007) ldb      [23]
(008) jeq      #0x6             jt 9	jf 18
(009) ldh      [20]
(010) jset     #0x1fff          jt 18	jf 11
(011) ldxb     4*([14]&0xf)
(012) ldb      [x + 14]
(013) add      x
(014) tax      
(015) ldh      [x + 14]
(016) jeq      #0x5             jt 17	jf 18
(017) ret      #262144
(018) ret      #0
