import os
import sys, numpy as np
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__)))
from common import *
from norm import norm
from sklearn.linear_model import LogisticRegression
E=load_emb(1)
def topk(S,k): return np.sort(S,1)[:,-k:].mean(1)
def run(ke=3,kb=3,accepts=(0.92,0.94,0.96),pred_mode='ens',normalize=False,verbose=False):
    def emb(ts,lang): return np.array([E[norm(t,lang) if normalize else t] for t in ts])
    res={a:{} for a in accepts}
    for dom,lang,r,model,test in sets():
        names,X,y,_=intents(model); T=tsv(test); bg=background(lang); nC=len(names)
        yt=np.array([names.index(a) if a!='none' else -1 for a,_ in T])
        Xe=emb(X,lang); mu=Xe.mean(0)
        cen=lambda A:(A-mu)/np.linalg.norm(A-mu,axis=1,keepdims=True)
        Xc=cen(Xe); Q=cen(emb([b for _,b in T],lang)); B=cen(emb(bg,lang))
        f=np.arange(len(y))%5; cv=np.zeros(len(y))
        for k in range(5):
            tr=f!=k; te=f==k
            cv[te]=topk(Xc[te]@Xc[tr].T,ke)-topk(Xc[te]@B.T,kb)
        s=topk(Q@Xc.T,ke)-topk(Q@B.T,kb)
        S=Q@Xc.T
        knn=np.array([[np.sort(S[i,y==c])[-3:].mean() for c in range(nC)] for i in range(len(Q))])
        if pred_mode=='knn': pred=knn.argmax(1)
        else:
            lr=LogisticRegression(C=30,max_iter=3000).fit(Xc,y); P=lr.predict_proba(Q)
            sm=np.exp((knn-knn.max(1,keepdims=True))/0.05); sm/=sm.sum(1,keepdims=True)
            pred=((P+sm)/2).argmax(1) if pred_mode=='ens' else P.argmax(1)
        ood=yt<0
        for a in accepts:
            thr=np.quantile(cv,1-a)
            res[a][(dom,lang,r)]=(((s>=thr)&(pred==yt))[~ood].mean(), (s<thr)[ood].mean())
    for a in accepts:
        v=np.array(list(res[a].values()))
        print(f'pred={pred_mode} norm={normalize} ke={ke} kb={kb} accept={a}: mean acc {v[:,0].mean():.3f} rej {v[:,1].mean():.3f} | min {v[:,0].min():.3f} {v[:,1].min():.3f} | meeting {(np.logical_and(v[:,0]>=0.93,v[:,1]>=0.85)).sum()}/16')
        if verbose:
            for k,x in res[a].items(): print('   ',k,'%.3f %.3f'%x)
    return res
if __name__=='__main__':
    for pm in ('knn','lr','ens'): run(pred_mode=pm)
