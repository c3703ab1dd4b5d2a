(000) ldh      [12]
(001) jeq      #0x800           jt 2	jf 4
(002) ldb      [30]
(003) jge      #0xe0            jt 8	jf 4
(004) ld       [2]
(005) jeq      #0xffffffff      jt 6	jf 9
(006) ldh      [0]
(007) jeq      #0xffff          jt 8	jf 9
(008) ret      #262144
(009) ret      #0
