(000) ldb      [0]
(001) and      #0x1
(002) jeq      #0x1             jt 8	jf 3
(003) ldh      [12]
(004) jeq      #0x800           jt 5	jf 9
(005) ldb      [15]
(006) neg      
(007) jeq      #0x5             jt 8	jf 9
(008) ret      #262144
(009) ret      #0
