use super::*;
use crate::nlu::{EntitySpec, EntityValue};

fn slots(text: &str) -> Vec<(String, SlotValue, String)> {
    let entities = vec![EntitySpec {
        name: "plan".into(),
        values: vec![
            EntityValue::Plain("basic".into()),
            EntityValue::WithSynonyms {
                value: "premium".into(),
                synonyms: vec!["gold plan".into(), "高级套餐".into()],
            },
        ],
    }];
    SlotExtractor::new(&entities)
        .extract(text)
        .into_iter()
        .map(|s| (s.entity, s.value, s.text))
        .collect()
}

fn text(s: &str) -> SlotValue {
    SlotValue::Text(s.into())
}

#[test]
fn amounts_numbers_and_currencies() {
    let s = slots("pay $1,200.50 and twenty five dollars, 3 times");
    assert_eq!(
        s[0],
        (
            "amount".into(),
            SlotValue::Amount {
                amount: 1200.5,
                currency: Some("USD".into())
            },
            "$1,200.50".into()
        )
    );
    assert_eq!(
        s[1].1,
        SlotValue::Amount {
            amount: 25.0,
            currency: Some("USD".into())
        }
    );
    assert_eq!(s[1].2, "twenty five dollars");
    assert_eq!(s[2].1, SlotValue::Number(3.0));
    let s = slots("我要交一百五十块话费，还有50元");
    assert_eq!(
        s[0].1,
        SlotValue::Amount {
            amount: 150.0,
            currency: Some("CNY".into())
        }
    );
    assert_eq!(s[0].2, "一百五十块");
    assert_eq!(
        s[1].1,
        SlotValue::Amount {
            amount: 50.0,
            currency: Some("CNY".into())
        }
    );
}

#[test]
fn phone_and_card_numbers() {
    let s = slots("call me on (555) 123-4567 about card 4111 1111 1111 1111");
    assert_eq!(
        s[0],
        ("phone".into(), text("5551234567"), "(555) 123-4567".into())
    );
    assert_eq!(
        s[1],
        (
            "card_number".into(),
            text("4111111111111111"),
            "4111 1111 1111 1111".into()
        )
    );
    let s = slots("我的手机号是138-0013-8000");
    assert_eq!(s[0].0, "phone");
    assert_eq!(s[0].1, text("13800138000"));
    // Debug redacts personal data.
    let dbg = format!("{:?}", SlotExtractor::new(&[]).extract("13800138000"));
    assert!(!dbg.contains("138001") && dbg.contains("8000"), "{dbg}");
}

#[test]
fn dates_in_english_and_chinese() {
    let d = |v| SlotValue::Date(v);
    let s = slots("tomorrow or friday or march 5th or the 3rd of may or 2026-04-01 or 12/25");
    let values: Vec<_> = s.iter().map(|x| x.1.clone()).collect();
    assert_eq!(
        values,
        [
            d(DateValue::Relative { days: 1 }),
            d(DateValue::Weekday { weekday: 5 }),
            d(DateValue::Calendar {
                year: None,
                month: Some(3),
                day: 5
            }),
            d(DateValue::Calendar {
                year: None,
                month: Some(5),
                day: 3
            }),
            d(DateValue::Calendar {
                year: Some(2026),
                month: Some(4),
                day: 1
            }),
            d(DateValue::Calendar {
                year: None,
                month: Some(12),
                day: 25
            }),
        ]
    );
    let s = slots("明天或者下周三，3月5号，二〇二六年十二月一日");
    let values: Vec<_> = s.iter().map(|x| x.1.clone()).collect();
    assert_eq!(
        values,
        [
            d(DateValue::Relative { days: 1 }),
            d(DateValue::Weekday { weekday: 3 }),
            d(DateValue::Calendar {
                year: None,
                month: Some(3),
                day: 5
            }),
            d(DateValue::Calendar {
                year: Some(2026),
                month: Some(12),
                day: 1
            }),
        ]
    );
}

#[test]
fn custom_entities_with_synonyms_and_plurals() {
    let s = slots("switch me to the Gold Plan, not basic");
    assert_eq!(s[0], ("plan".into(), text("premium"), "Gold Plan".into()));
    assert_eq!(s[1], ("plan".into(), text("basic"), "basic".into()));
    let s = slots("我想换成高级套餐");
    assert_eq!(s[0], ("plan".into(), text("premium"), "高级套餐".into()));
}

#[test]
fn nothing_to_find_and_odd_input() {
    assert!(slots("I lost my card").is_empty());
    assert!(slots("").is_empty());
    assert!(slots("一下").is_empty());
    // Does not panic on odd unicode and huge numbers.
    let _ = slots("$ $$ 99999999999999999999999999 ١٢٣ 一万亿亿亿亿亿亿亿亿亿 ,.,.");
}
