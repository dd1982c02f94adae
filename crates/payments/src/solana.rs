//! Solana Pay (<https://docs.solanapay.com/spec>) transfer requests and
//! their verification over Solana's JSON-RPC API
//! (<https://solana.com/docs/rpc/http>).
//!
//! A transfer request is a URL,
//! `solana:<recipient>?amount=<decimal>&spl-token=<mint>&reference=<key>&label=…&message=…&memo=…`,
//! which a wallet turns into a transfer carrying `reference` as an extra
//! read-only account key. The shop finds that transfer with
//! `getSignaturesForAddress(reference)`, fetches it with `getTransaction`
//! (`jsonParsed`, `finalized`) and checks recipient, mint and the exact
//! amount from the balances before and after.
//!
//! Amounts are integers throughout: minor units of the shop's currency are
//! converted to lamports (SOL, 9 decimals) at a configured price, rounding
//! up so the shop is never short, or to token base units at par for a
//! stablecoin in the shop's currency; the URL's decimal is printed from the
//! integer.

use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// Lamports per SOL is 10^9.
pub const SOL_DECIMALS: u32 = 9;

/// What buyers pay in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asset {
    /// Native SOL at a fixed price: minor units of the shop's currency per SOL.
    Sol { price_minor_per_sol: u64 },
    /// An SPL token (such as USDC) worth one unit of the shop's currency.
    Token { mint: String, decimals: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("the amount must be positive")]
    NotPositive,
    #[error("the amount does not fit")]
    Overflow,
    #[error("the token has fewer decimals than the currency's minor unit")]
    TooFewDecimals,
}

impl Asset {
    pub fn decimals(&self) -> u32 {
        match self {
            Asset::Sol { .. } => SOL_DECIMALS,
            Asset::Token { decimals, .. } => *decimals,
        }
    }

    pub fn mint(&self) -> Option<&str> {
        match self {
            Asset::Sol { .. } => None,
            Asset::Token { mint, .. } => Some(mint),
        }
    }

    /// `amount_minor` minor units of a currency with `currency_exponent`
    /// decimals, in this asset's base units. SOL rounds up to the next
    /// lamport; a token converts exactly.
    pub fn base_units(&self, amount_minor: i64, currency_exponent: u32) -> Result<u64, AmountError> {
        let amount = u128::try_from(amount_minor).ok().filter(|a| *a > 0).ok_or(AmountError::NotPositive)?;
        let units = match self {
            Asset::Sol { price_minor_per_sol } => {
                let price = u128::from(*price_minor_per_sol).max(1);
                let lamports = amount * 10u128.pow(SOL_DECIMALS);
                lamports.div_ceil(price)
            }
            Asset::Token { decimals, .. } => {
                let shift = decimals.checked_sub(currency_exponent).ok_or(AmountError::TooFewDecimals)?;
                amount
                    .checked_mul(10u128.checked_pow(shift).ok_or(AmountError::Overflow)?)
                    .ok_or(AmountError::Overflow)?
            }
        };
        u64::try_from(units).map_err(|_| AmountError::Overflow)
    }
}

/// `units` base units as a decimal with at most `decimals` places and no
/// trailing zeros (`1500000`, 6 → `1.5`).
pub fn decimal(units: u64, decimals: u32) -> String {
    let scale = 10u64.pow(decimals);
    let (whole, frac) = (units / scale, units % scale);
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:0width$}", width = decimals as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A fresh reference key: 32 random bytes in base58, the form of a public key.
pub fn new_reference() -> String {
    let bytes: [u8; 32] = rand::random();
    bs58::encode(bytes).into_string()
}

/// Whether `s` is a base58 public key (32 bytes).
pub fn is_address(s: &str) -> bool {
    bs58::decode(s).into_vec().is_ok_and(|b| b.len() == 32)
}

/// One Solana Pay transfer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    pub recipient: String,
    /// Base units (lamports, or the token's smallest unit).
    pub amount: u64,
    pub decimals: u32,
    pub spl_token: Option<String>,
    pub reference: String,
    pub label: String,
    pub message: String,
    pub memo: String,
}

impl TransferRequest {
    pub fn url(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("amount", &decimal(self.amount, self.decimals));
        if let Some(mint) = &self.spl_token {
            query.append_pair("spl-token", mint);
        }
        query.append_pair("reference", &self.reference);
        query.append_pair("label", &self.label);
        query.append_pair("message", &self.message);
        query.append_pair("memo", &self.memo);
        // The spec percent-encodes with encodeURIComponent: spaces are %20, not +.
        format!("solana:{}?{}", self.recipient, query.finish().replace('+', "%20"))
    }
}

/// The URL as a QR code in SVG, for a phone wallet to scan.
pub fn qr_svg(data: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::new(data.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// What a transfer must look like on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub recipient: String,
    pub amount: u64,
    pub mint: Option<String>,
    pub reference: String,
}

/// What the chain says about one expected transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// A finalized transaction paying exactly what was asked.
    Paid { signature: String },
    /// Nothing carries the reference yet.
    NotFound,
    /// A transaction carries it but is not finalized yet.
    NotFinalized { signature: String },
    /// A finalized transaction carries it but does not pay what was asked.
    Rejected { signature: String, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("Solana RPC could not be reached: {0}")]
    Unreachable(String),
    #[error("Solana RPC error {code}: {message}")]
    Rpc { code: i64, message: String },
    #[error("Solana RPC answer could not be read: {0}")]
    Decode(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureInfo {
    pub signature: String,
    #[serde(default)]
    pub err: Option<Value>,
    #[serde(default)]
    pub confirmation_status: Option<String>,
}

/// A JSON-RPC client for the two calls Solana Pay needs.
#[derive(Debug, Clone)]
pub struct Rpc {
    url: String,
    http: reqwest::Client,
}

impl Rpc {
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Rpc { url: url.to_owned(), http: reqwest::Client::builder().timeout(timeout).build()? })
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let response =
            self.http.post(&self.url).json(&body).send().await.map_err(|e| RpcError::Unreachable(e.to_string()))?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| RpcError::Decode(format!("HTTP {status}: {e}")))?;
        if let Some(error) = value.get("error") {
            return Err(RpcError::Rpc {
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
            });
        }
        value.get("result").cloned().ok_or_else(|| RpcError::Decode("no result".into()))
    }

    /// `getSignaturesForAddress`, newest first, at `confirmed` so that a
    /// transaction not yet finalized can be told apart from none at all.
    pub async fn signatures_for_address(&self, address: &str, limit: u32) -> Result<Vec<SignatureInfo>, RpcError> {
        let result =
            self.call("getSignaturesForAddress", json!([address, {"commitment": "confirmed", "limit": limit}])).await?;
        serde_json::from_value(result).map_err(|e| RpcError::Decode(e.to_string()))
    }

    /// `getTransaction` as `jsonParsed` at `finalized`: `None` until it is.
    pub async fn finalized_transaction(&self, signature: &str) -> Result<Option<Value>, RpcError> {
        let result = self
            .call(
                "getTransaction",
                json!([signature, {"encoding": "jsonParsed", "commitment": "finalized", "maxSupportedTransactionVersion": 0}]),
            )
            .await?;
        Ok((!result.is_null()).then_some(result))
    }

    /// Looks for the transfer carrying `expected.reference`: the oldest
    /// successful finalized transaction that pays what was asked counts.
    /// Otherwise the answer is about the newest candidate (refused, with the
    /// reason, or not yet finalized), or that there is none.
    pub async fn check(&self, expected: &Expected) -> Result<Check, RpcError> {
        let mut found = self.signatures_for_address(&expected.reference, 20).await?;
        found.retain(|s| s.err.as_ref().is_none_or(Value::is_null));
        // Newest first from the node; the first payment is the one that counts.
        found.reverse();
        let mut answer = Check::NotFound;
        for candidate in found {
            let signature = candidate.signature;
            let finalized = candidate.confirmation_status.as_deref() == Some("finalized");
            let tx = if finalized { self.finalized_transaction(&signature).await? } else { None };
            match tx {
                None => answer = Check::NotFinalized { signature },
                Some(tx) => match verify_transfer(&tx, expected) {
                    Ok(()) => return Ok(Check::Paid { signature }),
                    Err(reason) => answer = Check::Rejected { signature, reason },
                },
            }
        }
        Ok(answer)
    }
}

fn account_keys(tx: &Value) -> Vec<String> {
    tx.pointer("/transaction/message/accountKeys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k.get("pubkey").and_then(Value::as_str).or_else(|| k.as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn balance(list: Option<&Value>, index: usize) -> Option<u64> {
    list?.as_array()?.get(index)?.as_u64()
}

/// `(account index, amount)` of the token account `owner` holds of `mint`.
fn token_balance(list: Option<&Value>, owner: &str, mint: &str) -> Option<(u64, u64)> {
    list?.as_array()?.iter().find_map(|b| {
        (b.get("owner")?.as_str()? == owner && b.get("mint")?.as_str()? == mint).then_some(())?;
        let index = b.get("accountIndex")?.as_u64()?;
        let amount = b.pointer("/uiTokenAmount/amount")?.as_str()?.parse().ok()?;
        Some((index, amount))
    })
}

/// Checks a `getTransaction` (`jsonParsed`) result against `expected`: it
/// succeeded, carries the reference, and moved exactly `amount` of the
/// right asset to the recipient. The error names what is wrong.
pub fn verify_transfer(tx: &Value, expected: &Expected) -> Result<(), String> {
    let meta = tx.get("meta").ok_or("the transaction has no meta")?;
    if meta.get("err").is_some_and(|e| !e.is_null()) {
        return Err("the transaction failed on chain".into());
    }
    let keys = account_keys(tx);
    if !keys.contains(&expected.reference) {
        return Err("the transaction does not carry the payment's reference".into());
    }
    let received = match &expected.mint {
        None => {
            let Some(i) = keys.iter().position(|k| *k == expected.recipient) else {
                return Err("wrong recipient: the shop's wallet is not in the transaction".into());
            };
            let pre = balance(meta.get("preBalances"), i).ok_or("no balance before")?;
            let post = balance(meta.get("postBalances"), i).ok_or("no balance after")?;
            if post <= pre {
                return Err("wrong recipient: the shop's wallet received nothing".into());
            }
            post - pre
        }
        Some(mint) => {
            let Some((index, post)) = token_balance(meta.get("postTokenBalances"), &expected.recipient, mint) else {
                let other_mint = meta.get("postTokenBalances").and_then(Value::as_array).is_some_and(|l| {
                    l.iter().any(|b| b.get("owner").and_then(Value::as_str) == Some(&expected.recipient))
                });
                return Err(if other_mint {
                    "wrong mint: the shop's wallet received another token".into()
                } else {
                    "wrong recipient: no token account of the shop's wallet changed".into()
                });
            };
            let pre = meta
                .get("preTokenBalances")
                .and_then(Value::as_array)
                .and_then(|l| l.iter().find(|b| b.get("accountIndex").and_then(Value::as_u64) == Some(index)))
                .and_then(|b| b.pointer("/uiTokenAmount/amount")?.as_str()?.parse::<u64>().ok())
                .unwrap_or(0);
            post.saturating_sub(pre)
        }
    };
    if received != expected.amount {
        return Err(format!("wrong amount: {received} base units received, {} asked", expected.amount));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn amounts_convert_exactly() {
        let usdc = Asset::Token { mint: "mint".into(), decimals: 6 };
        assert_eq!(usdc.base_units(1999, 2), Ok(19_990_000));
        assert_eq!(usdc.base_units(5, 0), Ok(5_000_000));
        assert_eq!(usdc.base_units(0, 2), Err(AmountError::NotPositive));
        assert_eq!(Asset::Token { mint: "m".into(), decimals: 1 }.base_units(5, 2), Err(AmountError::TooFewDecimals));
        // $150.00 a SOL: $19.99 is 0.133266666… SOL, rounded up to the lamport.
        let sol = Asset::Sol { price_minor_per_sol: 15_000 };
        assert_eq!(sol.base_units(1999, 2), Ok(133_266_667));
        assert_eq!(sol.base_units(15_000, 2), Ok(1_000_000_000));
        assert_eq!(sol.base_units(1_000_000_000_000, 2), Ok(66_666_666_666_666_667));
        assert_eq!(sol.base_units(i64::MAX, 2), Err(AmountError::Overflow));
    }

    #[test]
    fn decimals_print_without_floats() {
        assert_eq!(decimal(19_990_000, 6), "19.99");
        assert_eq!(decimal(1_000_000_000, 9), "1");
        assert_eq!(decimal(133_266_667, 9), "0.133266667");
        assert_eq!(decimal(1, 9), "0.000000001");
        assert_eq!(decimal(7, 0), "7");
    }

    #[test]
    fn the_url_follows_the_spec() {
        let request = TransferRequest {
            recipient: "mvines9iiHiQTysrwkJjGf2gb9Ex9jXJX8ns3qwf2kN".into(),
            amount: 1_500_000,
            decimals: 6,
            spl_token: Some("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v".into()),
            reference: "82ZJ7nbGpixjeDCmEhUcmwXYfvurzAgGdtSMuHnUgyny".into(),
            label: "Michael's Shop".into(),
            message: "Order #1001".into(),
            memo: "1001".into(),
        };
        assert_eq!(
            request.url(),
            "solana:mvines9iiHiQTysrwkJjGf2gb9Ex9jXJX8ns3qwf2kN?amount=1.5\
             &spl-token=EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v\
             &reference=82ZJ7nbGpixjeDCmEhUcmwXYfvurzAgGdtSMuHnUgyny\
             &label=Michael%27s%20Shop&message=Order%20%231001&memo=1001"
        );
        let svg = qr_svg(&request.url()).expect("fits a QR code");
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{}", &svg[..80]);
    }

    #[test]
    fn references_are_fresh_public_keys() {
        let (a, b) = (new_reference(), new_reference());
        assert_ne!(a, b);
        assert!(is_address(&a) && is_address(&b));
        assert!(!is_address("not-base58-0OIl") && !is_address("abc"));
    }

    fn sol_tx(recipient: &str, reference: &str, pre: u64, post: u64) -> Value {
        json!({
            "meta": {"err": null, "preBalances": [5_000_000_000u64, pre, 1], "postBalances": [4_000_000_000u64, post, 1],
                     "preTokenBalances": [], "postTokenBalances": []},
            "transaction": {"message": {"accountKeys": [
                {"pubkey": "payer", "signer": true, "writable": true},
                {"pubkey": recipient, "signer": false, "writable": true},
                {"pubkey": reference, "signer": false, "writable": false}]}}
        })
    }

    #[test]
    fn transfers_are_checked_from_balances() {
        let expected = Expected { recipient: "shop".into(), amount: 100, mint: None, reference: "ref".into() };
        assert_eq!(verify_transfer(&sol_tx("shop", "ref", 1000, 1100), &expected), Ok(()));
        assert!(
            verify_transfer(&sol_tx("shop", "ref", 1000, 1099), &expected).unwrap_err().starts_with("wrong amount")
        );
        assert!(
            verify_transfer(&sol_tx("shop", "ref", 1000, 1101), &expected).unwrap_err().starts_with("wrong amount")
        );
        assert!(
            verify_transfer(&sol_tx("thief", "ref", 1000, 1100), &expected).unwrap_err().starts_with("wrong recipient")
        );
        assert!(verify_transfer(&sol_tx("shop", "other", 1000, 1100), &expected).unwrap_err().contains("reference"));
        let mut failed = sol_tx("shop", "ref", 1000, 1100);
        failed["meta"]["err"] = json!({"InstructionError": [0, "Custom"]});
        assert!(verify_transfer(&failed, &expected).is_err());

        let token = |mint: &str, owner: &str, pre: Option<&str>, post: &str| {
            let mut tx = sol_tx("payer2", "ref", 0, 0);
            tx["meta"]["preTokenBalances"] = match pre {
                Some(p) => {
                    json!([{"accountIndex": 1, "mint": mint, "owner": owner, "uiTokenAmount": {"amount": p, "decimals": 6}}])
                }
                None => json!([]),
            };
            tx["meta"]["postTokenBalances"] = json!([{"accountIndex": 1, "mint": mint, "owner": owner, "uiTokenAmount": {"amount": post, "decimals": 6}}]);
            tx
        };
        let usdc = Expected {
            recipient: "shop".into(),
            amount: 1_500_000,
            mint: Some("usdc".into()),
            reference: "ref".into(),
        };
        assert_eq!(verify_transfer(&token("usdc", "shop", Some("500000"), "2000000"), &usdc), Ok(()));
        assert_eq!(verify_transfer(&token("usdc", "shop", None, "1500000"), &usdc), Ok(()));
        assert!(verify_transfer(&token("fake", "shop", None, "1500000"), &usdc).unwrap_err().starts_with("wrong mint"));
        assert!(
            verify_transfer(&token("usdc", "thief", None, "1500000"), &usdc)
                .unwrap_err()
                .starts_with("wrong recipient")
        );
        assert!(
            verify_transfer(&token("usdc", "shop", None, "1400000"), &usdc).unwrap_err().starts_with("wrong amount")
        );
    }
}
