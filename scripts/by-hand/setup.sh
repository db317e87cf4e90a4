#!/bin/sh
# Builds /tmp/byhand: one baresip config folder per phone (own SIP and RTP ports),
# each sending a tone of its own frequency (so a recording tells who is heard) and
# recording what it hears with the sndfile module (dump-<time>-dec.wav).
set -eu
B=${BYHAND_DIR:-/tmp/byhand}
rm -rf "$B"; mkdir -p "$B/premise-data"
# (baresip also listens on sip-port+1 for TLS)
# name  sip-port rtp-base tone-Hz account
phone() {
  name=$1 sip=$2 rtp=$3 hz=$4 account=$5
  d="$B/$name"; mkdir -p "$d/rec"
  sox -n -r 8000 -c 1 -b 16 -e signed-integer "$d/tone.wav" synth 600 sine "$hz" vol 0.25
  cat > "$d/config" <<CFG
poll_method epoll
sip_listen 127.0.0.1:$sip
net_interface 127.0.0.1
call_local_timeout 120
call_max_calls 4
audio_source aufile,$d/tone.wav
audio_player aubridge,nil
audio_alert aubridge,nil
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
audio_buffer 20-160
rtp_ports $rtp-$((rtp + 19))
rtcp_mux no
jitter_buffer_delay 5-10
snd_path $d/rec
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module_app menu.so
module_tmp uuid.so
module_tmp account.so
CFG
  echo "$account" > "$d/accounts"
}
R='outbound="sip:127.0.0.1:45060";regint=60;answermode=auto;audio_codecs=PCMU'
phone caller 45110 45800 400  '<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU'
phone a1001  45120 45820 600  "<sip:1001@127.0.0.1>;auth_pass=alice1001;$R"
phone a1002  45130 45840 800  "<sip:1002@127.0.0.1>;auth_pass=bob1002;$R"
phone s3001  45140 45860 1000 "<sip:3001@127.0.0.1>;auth_pass=sue3001x;$R"
phone c9001  45150 45880 1200 '<sip:9001@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU'
echo "phones ready in $B"
