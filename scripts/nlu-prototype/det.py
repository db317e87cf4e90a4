import os
import sys, numpy as np
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__)))
from common import *
from sklearn.linear_model import LogisticRegression
E=load_emb(1)
def topk(S,k): return np.sort(S,1)[:,-k:].mean(1)
def emb(ts): return np.array([E[t] for t in ts])
def feats(Q,Xc,y,B,nC,lrm,ke=3,kb=3):
    S=Q@Xc.T; SB=Q@B.T
    knn=np.array([[np.sort(S[i,y==c])[-3:].mean() if (y==c).sum() else -1 for c in range(nC)] for i in range(len(Q))])
    P=lrm.predict_proba(Q)
    ks=np.sort(knn,1)
    return np.column_stack([topk(S,ke),topk(SB,kb),ks[:,-1],ks[:,-1]-ks[:,-2],P[:,-1],P[:,:-1].max(1)])
def run(cols,accepts=(0.94,),bw=0.5):
    res={a:{} for a in accepts}
    for dom,lang,r,model,test in sets():
        names,X,y,_=intents(model); T=tsv(test); bg=background(lang); nC=len(names)
        yt=np.array([names.index(a) if a!='none' else -1 for a,_ in T])
        Xe=emb(X); mu=Xe.mean(0)
        cen=lambda A:(A-mu)/np.linalg.norm(A-mu,axis=1,keepdims=True)
        Xc=cen(Xe); Q=cen(emb([b for _,b in T])); B=cen(emb(bg))
        fx=np.arange(len(y))%5; fb=np.arange(len(B))%5
        Fin=np.zeros((len(y),6)); Fout=np.zeros((len(B),6))
        for k in range(5):
            tr=fx!=k; trb=fb!=k
            lrm=LogisticRegression(C=10,max_iter=2000).fit(np.vstack([Xc[tr],B[trb]]),np.concatenate([y[tr],np.full(trb.sum(),nC)]),sample_weight=np.concatenate([np.ones(tr.sum()),np.full(trb.sum(),bw)]))
            Fin[~tr]=feats(Xc[~tr],Xc[tr],y[tr],B[trb],nC,lrm)
            Fout[~trb]=feats(B[~trb],Xc[tr],y[tr],B[trb],nC,lrm)
        lrm=LogisticRegression(C=10,max_iter=2000).fit(np.vstack([Xc,B]),np.concatenate([y,np.full(len(B),nC)]),sample_weight=np.concatenate([np.ones(len(y)),np.full(len(B),bw)]))
        Fq=feats(Q,Xc,y,B,nC,lrm)
        Z=np.vstack([Fin,Fout])[:,cols]; mu_,sd=Z.mean(0),Z.std(0)+1e-9
        det=LogisticRegression(C=100,class_weight='balanced').fit((Z-mu_)/sd,np.concatenate([np.ones(len(Fin)),np.zeros(len(Fout))]))
        sin=det.decision_function((Fin[:,cols]-mu_)/sd); sq=det.decision_function((Fq[:,cols]-mu_)/sd)
        S=Q@Xc.T
        knn=np.array([[np.sort(S[i,y==c])[-3:].mean() for c in range(nC)] for i in range(len(Q))])
        lr2=LogisticRegression(C=30,max_iter=3000).fit(Xc,y); P=lr2.predict_proba(Q)
        sm=np.exp((knn-knn.max(1,keepdims=True))/0.05); sm/=sm.sum(1,keepdims=True)
        pred=((P+sm)/2).argmax(1)
        ood=yt<0
        for a in accepts:
            thr=np.quantile(sin,1-a)
            res[a][(dom,lang,r)]=(((sq>=thr)&(pred==yt))[~ood].mean(), (sq<thr)[ood].mean())
    for a in accepts:
        v=np.array(list(res[a].values()))
        print(f'cols={cols} accept={a}: mean acc {v[:,0].mean():.3f} rej {v[:,1].mean():.3f} | min {v[:,0].min():.3f} {v[:,1].min():.3f} | meeting {(np.logical_and(v[:,0]>=0.93,v[:,1]>=0.85)).sum()}/16')
for cols in ([0,1],[0,1,2,3],[0,1,4],[0,1,2,3,4,5],[2,1],[4,5]):
    run(cols)
