import os
ROOT=os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)),'..','..'))
OUT=os.environ.get('NLU_PROTO_DIR','/tmp/nlu-proto')
import json, numpy as np
D=os.path.join(ROOT,'callcore-ivr/data/')
def load_emb(q=1):
    z=np.load(os.path.join(OUT,f'emb_{q}.npz'),allow_pickle=True)
    return dict(zip(z['texts'],z['emb']))
def intents(f):
    d=json.load(open(D+f)); X=[];y=[]
    names=[i['name'] for i in d['intents']]
    for c,i in enumerate(d['intents']):
        for e in i['examples']: X.append(e); y.append(c)
    return names,X,np.array(y),d['language']
def tsv(f):
    out=[]
    for l in open(D+f):
        l=l.rstrip('\n')
        if not l or l.startswith('#') or '\t' not in l: continue
        a,b=l.split('\t',1); out.append((a.strip(),b.strip()))
    return out
def background(lang):
    out=[]
    for l in open(os.path.join(ROOT,f'callcore-ivr/src/nlu/background/{lang}.txt')):
        l=l.strip()
        if l and not l.startswith('#'): out.append(l)
    return out
ROUNDS={'tel':{'r1':'independent/indep_a','r2':'independent2/indep_c','r3':'independent3/indep_c','r4':'independent4/indep_c'},
        'air':{'r1':'independent/indep_b','r2':'independent2/indep_d','r3':'independent3/indep_d','r4':'independent4/indep_d'}}
MODEL={'tel':'intents_%s.json','air':'intents_airline_%s.json'}
def sets():
    for dom in ('tel','air'):
        for lang in ('en','zh'):
            for r,p in ROUNDS[dom].items():
                yield dom,lang,r,MODEL[dom]%lang,f'{p}_{lang}.tsv'
