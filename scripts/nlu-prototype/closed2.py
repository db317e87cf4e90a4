import os
import sys, numpy as np
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__)))
from common import *
from sklearn.linear_model import LogisticRegression
E1=load_emb(1); E0=load_emb(0)
def emb(ts,mode):
    if mode=='q': return np.array([E1[t] for t in ts])
    if mode=='p': return np.array([E0[t] for t in ts])
    a=np.array([E1[t] for t in ts]); b=np.array([E0[t] for t in ts]); return np.hstack([a,b])/np.sqrt(2)
res={}
for dom,lang,r,model,test in sets():
    names,X,y,_=intents(model); T=tsv(test); nC=len(names)
    ind=[(names.index(a),b) for a,b in T if a!='none']; yt=np.array([a for a,_ in ind])
    out={}
    for mode in ('q','p','qp'):
        Xe=emb(X,mode); mu=Xe.mean(0)
        cen=lambda A:(A-mu)/np.linalg.norm(A-mu,axis=1,keepdims=True)
        Xc=cen(Xe); Q=cen(emb([b for _,b in ind],mode))
        S=Q@Xc.T
        knn=np.array([[np.sort(S[i,y==c])[-3:].mean() for c in range(nC)] for i in range(len(Q))])
        out[mode+'knn3']=(knn.argmax(1)==yt).mean()
        lr=LogisticRegression(C=30,max_iter=3000).fit(Xc,y); P=lr.predict_proba(Q)
        out[mode+'lr30']=(P.argmax(1)==yt).mean()
        sm=np.exp((knn-knn.max(1,keepdims=True))/0.05); sm/=sm.sum(1,keepdims=True)
        out[mode+'ens']=(((P+sm)/2).argmax(1)==yt).mean()
    res[(dom,lang,r)]=out
keys=list(next(iter(res.values())).keys())
print('set'.ljust(14),' '.join(k.rjust(7) for k in keys))
for s,o in res.items(): print('-'.join(s).ljust(14),' '.join(f'{o[k]:7.3f}' for k in keys))
print('mean'.ljust(14),' '.join(f'{np.mean([o[k] for o in res.values()]):7.3f}' for k in keys))
