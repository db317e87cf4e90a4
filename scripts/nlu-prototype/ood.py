import os
import sys, numpy as np
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__)))
from common import *
from sklearn.linear_model import LogisticRegression
E=load_emb(1)
def emb(ts): return np.array([E[t] for t in ts])
TARGET=float(sys.argv[1]) if len(sys.argv)>1 else 0.875
res={}
for dom,lang,r,model,test in sets():
    names,X,y,_=intents(model); T=tsv(test); bg=background(lang)
    nC=len(names)
    yt=np.array([names.index(a) if a!='none' else -1 for a,_ in T])
    Xe=emb(X); mu=Xe.mean(0)
    def cen(A):
        A=A-mu; return A/np.linalg.norm(A,axis=1,keepdims=True)
    Xc=cen(Xe); Q=cen(emb([b for _,b in T])); B=cen(emb(bg))
    S=Q@Xc.T; SB=Q@B.T
    knn=np.array([[np.sort(S[i,y==c])[-3:].mean() for c in range(nC)] for i in range(len(Q))])
    pred_knn=knn.argmax(1)
    lr=LogisticRegression(C=10,max_iter=3000).fit(np.vstack([Xc,B]),np.concatenate([y,np.full(len(B),nC)]),sample_weight=np.concatenate([np.ones(len(y)),np.full(len(B),0.5)]))
    P=lr.predict_proba(Q)
    pred_lr=P[:,:nC].argmax(1)
    lr2=LogisticRegression(C=10,max_iter=3000).fit(Xc,y); P2=lr2.predict_proba(Q)
    scores={
      'maxcos': (S.max(1),pred_knn),
      'knn3': (knn.max(1),pred_knn),
      'bgvote': (np.sort(S,1)[:,-5:].mean(1)-np.sort(SB,1)[:,-5:].mean(1),pred_knn),
      'lr_none': (-P[:,nC],pred_lr),
      'lr_best': (P[:,:nC].max(1),pred_lr),
      'lr2_max': (P2.max(1),P2.argmax(1)),
      'knn3-bg': (knn.max(1)-np.sort(SB,1)[:,-5:].mean(1),pred_knn),
    }
    out={}
    ood=yt<0
    for k,(s,pred) in scores.items():
        thr=np.quantile(s[ood],TARGET)  # reject below thr -> rejects TARGET of ood
        acc=((s[~ood]>thr)&(pred[~ood]==yt[~ood])).mean()
        out[k]=acc
    res[(dom,lang,r)]=out
keys=list(next(iter(res.values())).keys())
print('acc at oracle ood-rejection',TARGET)
print('set'.ljust(14),' '.join(k.rjust(8) for k in keys))
for s,o in res.items(): print('-'.join(s).ljust(14),' '.join(f'{o[k]:8.3f}' for k in keys))
print('mean'.ljust(14),' '.join(f'{np.mean([o[k] for o in res.values()]):8.3f}' for k in keys))
