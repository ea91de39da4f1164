version=2
# liblognorm v2 rulebase for the benchmark's mix: the fields gatelog's default rule pack
# takes. A message no rule matches keeps its text (mmnormalize adds "unparsed-data").
rule=sshd_accepted:Accepted %method:word% for %user:word% from %ip:ipv4% port %port:number% ssh2%-:rest%
rule=sshd_failed:Failed password for invalid user %user:word% from %ip:ipv4% port %port:number% ssh2%-:rest%
rule=sshd_failed:Failed password for %user:word% from %ip:ipv4% port %port:number% ssh2%-:rest%
rule=sshd_disconnect:Disconnected from user %user:word% %ip:ipv4% port %port:number%%-:rest%
rule=sudo:%user:word% : TTY=%tty:word% ; PWD=%pwd:word% ; USER=%runas:word% ; COMMAND=%cmd:rest%
rule=su:(to %runas:char-to:)%) %user:word% on %tty:word%%-:rest%
rule=pam:pam_unix(%svc:char-to:)%): session opened for user %user:char-to:(%(uid=%uid:number%) by (uid=%by:number%)%-:rest%
rule=useradd:new user: name=%user:char-to:,%, UID=%uid:number%, GID=%gid:number%, home=%home:char-to:,%, shell=%shell:char-to:,%, from=%from:rest%
rule=usermod:add '%user:char-to:'%' to group '%group:char-to:'%'%-:rest%
rule=nginx:%ip:ipv4% - %user:word% [%ts:char-to:]%] "%method:word% %path:word% %proto:char-to:"%" %status:number% %bytes:number% %-:rest%
rule=gate:%event:json%
