import os
import sys, numpy as np
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__)))
from common import *
from sklearn.linear_model import LogisticRegression
E=load_emb(1)
def emb(ts): return np.array([E[t] for t in ts])
def topk(S,k): return np.sort(S,1)[:,-k:].mean(1)
def run(ke=3,kb=3,accepts=(0.94,0.96),quant=None,raw_filter=True,verbose=False):
    res={a:{} for a in accepts}
    for dom,lang,r,model,test in sets():
        names,X,y,_=intents(model); T=tsv(test); bg=background(lang); nC=len(names)
        yt=np.array([names.index(a) if a!='none' else -1 for a,_ in T])
        Xe=emb(X); mu=Xe.mean(0); Be=emb(bg)
        if quant is not None:
            R=Xe@Xe.T; np.fill_diagonal(R,-1); lim=np.quantile(R.max(1),quant,method='nearest')
            keep=(Be@Xe.T).max(1)<lim; Be=Be[keep]
        cen=lambda A:(A-mu)/np.linalg.norm(A-mu,axis=1,keepdims=True)
        Xc=cen(Xe); Q=cen(emb([b for _,b in T])); B=cen(Be)
        f=np.arange(len(y))%5; cv=np.zeros(len(y))
        for k in range(5):
            tr=f!=k; te=f==k
            cv[te]=topk(Xc[te]@Xc[tr].T,ke)-topk(Xc[te]@B.T,kb)
        s=topk(Q@Xc.T,ke)-topk(Q@B.T,kb)
        S=Q@Xc.T
        knn=np.array([[np.sort(S[i,y==c])[-3:].mean() for c in range(nC)] for i in range(len(Q))])
        lr=LogisticRegression(C=30,max_iter=3000).fit(Xc,y); P=lr.predict_proba(Q)
        sm=np.exp((knn-knn.max(1,keepdims=True))/0.05); sm/=sm.sum(1,keepdims=True)
        pred=((P+sm)/2).argmax(1)
        ood=yt<0
        for a in accepts:
            thr=np.quantile(cv,1-a)
            res[a][(dom,lang,r)]=(((s>=thr)&(pred==yt))[~ood].mean(), (s<thr)[ood].mean())
    for a in accepts:
        v=np.array(list(res[a].values()))
        print(f'quant={quant} ke={ke} kb={kb} accept={a}: mean acc {v[:,0].mean():.3f} rej {v[:,1].mean():.3f} | min {v[:,0].min():.3f} {v[:,1].min():.3f} | meeting {(np.logical_and(v[:,0]>=0.93,v[:,1]>=0.85)).sum()}/16')
    return res
if __name__=='__main__':
    for q in (None,0.2,0.5):
        for k in (3,5): run(k,k,quant=q)
