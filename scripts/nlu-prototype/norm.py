import os
import re
EN=r"\b(um+|uh+|er+|erm+|hmm+|ah+|uh-huh)\b[,.]?"
ZH_LEAD=re.compile(r"^(嗯+|呃+|额+|那个|就是|然后|喂|哎|唉|啊)[，,。\s]*")
def norm(t,lang):
    if lang=='en':
        s=re.sub(EN,' ',t,flags=re.I); s=re.sub(r'\s+',' ',s).strip(' ,')
    else:
        s=re.sub(r'[嗯呃额]+[，,。 ]*','',t)
        prev=None
        while prev!=s:
            prev=s; s=ZH_LEAD.sub('',s)
        s=s.strip()
    return s if s else t
