//! A local Solana JSON-RPC node (<https://solana.com/docs/rpc/http>) with
//! the two methods Solana Pay verification uses, in the node's formats:
//! `getSignaturesForAddress` (newest first, with `confirmationStatus`) and
//! `getTransaction` with `jsonParsed` encoding (`null` until the transaction
//! reaches the asked commitment). Tests put transactions on its "chain".

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

pub const USDC_MINT: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
pub const BUYER: &str = "BuyerWa11et1111111111111111111111111111111";

#[derive(Default)]
pub struct Inner {
    /// Account key → signatures carrying it, oldest first.
    by_account: Mutex<HashMap<String, Vec<String>>>,
    /// Signature → (commitment reached, the `jsonParsed` transaction).
    txs: Mutex<HashMap<String, (String, Value)>>,
    pub calls: Mutex<Vec<String>>,
    counter: AtomicU32,
}

#[derive(Clone)]
pub struct FakeSolana {
    pub addr: SocketAddr,
    pub inner: Arc<Inner>,
}

/// What a transaction moves.
pub enum Moves<'a> {
    Sol { to: &'a str, lamports: u64 },
    Token { mint: &'a str, owner: &'a str, amount: u64 },
}

impl FakeSolana {
    pub async fn start() -> FakeSolana {
        let inner = Arc::new(Inner::default());
        let addr = crate::helpers::serve_fake(Router::new().fallback(handle).with_state(inner.clone())).await;
        FakeSolana { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lands a transaction carrying `references` that makes `moves`, at
    /// `commitment` (`confirmed` or `finalized`); returns its signature.
    pub fn land(&self, references: &[&str], moves: Moves<'_>, commitment: &str) -> String {
        let n = self.inner.counter.fetch_add(1, Ordering::SeqCst);
        let signature = bs58_like(n);
        let mut keys = vec![json!({"pubkey": BUYER, "signer": true, "writable": true, "source": "transaction"})];
        let (meta_balances, token_balances) = match moves {
            Moves::Sol { to, lamports } => {
                keys.push(json!({"pubkey": to, "signer": false, "writable": true, "source": "transaction"}));
                ((vec![10_000_000_000u64, 500], vec![10_000_000_000 - lamports - 5000, 500 + lamports]), None)
            }
            Moves::Token { mint, owner, amount } => {
                keys.push(json!({"pubkey": "ShopTokenAccount11111111111111111111111111", "signer": false, "writable": true, "source": "transaction"}));
                let pre = json!([{"accountIndex": 1, "mint": mint, "owner": owner, "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
                                  "uiTokenAmount": {"amount": "1000000", "decimals": 6, "uiAmount": 1.0, "uiAmountString": "1"}}]);
                let post = json!([{"accountIndex": 1, "mint": mint, "owner": owner, "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
                                   "uiTokenAmount": {"amount": (1_000_000 + amount).to_string(), "decimals": 6}}]);
                ((vec![10_000_000_000u64, 2_039_280], vec![10_000_000_000 - 5000, 2_039_280]), Some((pre, post)))
            }
        };
        for reference in references {
            keys.push(json!({"pubkey": reference, "signer": false, "writable": false, "source": "transaction"}));
        }
        let (mut pre, mut post) = meta_balances;
        for _ in references {
            pre.push(0);
            post.push(0);
        }
        let (pre_tokens, post_tokens) = token_balances.unwrap_or((json!([]), json!([])));
        let tx = json!({
            "slot": 250_000_000 + u64::from(n), "blockTime": 1_700_000_000 + i64::from(n), "version": 0,
            "meta": {"err": null, "fee": 5000, "preBalances": pre, "postBalances": post,
                     "preTokenBalances": pre_tokens, "postTokenBalances": post_tokens, "logMessages": [], "status": {"Ok": null}},
            "transaction": {"signatures": [signature], "message": {"accountKeys": keys, "instructions": [], "recentBlockhash": "11111111111111111111111111111111"}}
        });
        for key in tx["transaction"]["message"]["accountKeys"].as_array().unwrap() {
            let key = key["pubkey"].as_str().unwrap().to_owned();
            self.inner.by_account.lock().unwrap().entry(key).or_default().push(signature.clone());
        }
        self.inner.txs.lock().unwrap().insert(signature.clone(), (commitment.to_owned(), tx));
        signature
    }

    pub fn finalize(&self, signature: &str) {
        if let Some(entry) = self.inner.txs.lock().unwrap().get_mut(signature) {
            entry.0 = "finalized".into();
        }
    }
}

fn bs58_like(n: u32) -> String {
    format!("5sig{n:0>84}").replace('0', "z")
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})).into_response()
}

async fn handle(State(inner): State<Arc<Inner>>, axum::Json(request): axum::Json<Value>) -> Response {
    let id = request["id"].clone();
    let method = request["method"].as_str().unwrap_or("").to_owned();
    inner.calls.lock().unwrap().push(method.clone());
    let params = request["params"].as_array().cloned().unwrap_or_default();
    let result = match method.as_str() {
        "getSignaturesForAddress" => {
            let Some(address) = params.first().and_then(Value::as_str) else {
                return rpc_error(&id, -32602, "Invalid params");
            };
            let signatures = inner.by_account.lock().unwrap().get(address).cloned().unwrap_or_default();
            let txs = inner.txs.lock().unwrap();
            let list: Vec<Value> = signatures
                .iter()
                .rev()
                .map(|s| {
                    let (commitment, tx) = &txs[s];
                    json!({"signature": s, "slot": tx["slot"], "err": null, "memo": null, "blockTime": tx["blockTime"],
                           "confirmationStatus": commitment})
                })
                .collect();
            json!(list)
        }
        "getTransaction" => {
            let (Some(signature), Some(config)) = (params.first().and_then(Value::as_str), params.get(1)) else {
                return rpc_error(&id, -32602, "Invalid params");
            };
            if config["encoding"] != "jsonParsed" {
                return rpc_error(&id, -32602, "this fake answers jsonParsed only");
            }
            let wanted = config["commitment"].as_str().unwrap_or("finalized");
            match inner.txs.lock().unwrap().get(signature) {
                Some((commitment, tx)) if commitment == "finalized" || wanted == "confirmed" => tx.clone(),
                _ => Value::Null,
            }
        }
        _ => return rpc_error(&id, -32601, "Method not found"),
    };
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}
