(000) ldh      [12]
(001) jeq      #0x800           jt 2	jf 10
(002) ldb      [23]
(003) jeq      #0x11            jt 4	jf 10
(004) ldh      [20]
(005) jset     #0x1fff          jt 10	jf 6
(006) ldxb     4*([14]&0xf)
(007) ld       [x + 22]
(008) jeq      #0xdeadbeef      jt 9	jf 10
(009) ret      #262144
(010) ret      #0
