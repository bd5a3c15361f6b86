//! Hand-checked options. Each case's working is in its comment: the payment by the level-payment formula, the
//! prepaid finance charges item by item, the amount financed, and the total of payments and finance charge and
//! APR as an independent script (the same rules written again in Python, Appendix J's equation solved by
//! bisection) computed them. APRs must agree to 0.001 percentage points, far inside Regulation Z's 1/8 point.

use chrono::NaiveDate;

use super::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// A conventional fixed loan closing 1 Feb 2026 with the first payment on 1 Mar 2026 (no odd days).
fn base(loan: i64, value: i64, rate: i32, months: u32) -> Inputs {
    Inputs {
        program: "conventional".into(),
        rate_type: "fixed".into(),
        arm: None,
        index_milli: None,
        property_value_cents: value,
        base_loan_cents: loan,
        rate_milli: rate,
        term_months: months,
        points_bps: 0,
        pmi_annual_bps: 0,
        fha_upfront_bps: 0,
        fha_annual_bps: 0,
        va_funding_fee_bps: 0,
        costs: vec![],
        monthly_taxes_cents: 0,
        monthly_insurance_cents: 0,
        monthly_hoa_cents: 0,
        down_payment_cents: 0,
        closing_date: d(2026, 2, 1),
        first_payment_date: d(2026, 3, 1),
    }
}

fn pfc(name: &str, cents: i64) -> CostItem {
    CostItem { name: name.into(), cents, prepaid_finance_charge: true }
}

fn other(name: &str, cents: i64) -> CostItem {
    CostItem { name: name.into(), cents, prepaid_finance_charge: false }
}

/// Checks the Truth in Lending figures: amount financed and finance charge to the cent, APR to 0.001 points.
fn check(i: &Inputs, payment: i64, amount_financed: i64, finance_charge: i64, apr: f64) -> Figures {
    assert!(validate(i).is_empty(), "{:?}", validate(i));
    let f = figures(i);
    assert_eq!(f.principal_and_interest_cents, payment, "payment");
    assert_eq!(f.amount_financed_cents, amount_financed, "amount financed");
    assert_eq!(f.finance_charge_cents, finance_charge, "finance charge");
    assert!((f.apr_exact - apr).abs() < 0.001, "APR {} is not {apr}", f.apr_exact);
    assert_eq!(f.apr_milli, (apr * 1000.0).round() as i32);
    f
}

#[test]
fn case_01_fixed_30_years_no_charges_is_the_note_rate() {
    // $200,000 at 6% for 30 years: 1,199.10 a month (r = 0.005, (1.005)^360 = 6.022575, 1000/0.833958).
    // No prepaid finance charges: amount financed = 200,000.00. Total of payments 431,677.04 (359 × 1,199.10 +
    // the last 1,208.14 that clears the rounding), finance charge 231,677.04, APR the note rate, 6.000%.
    check(&base(20_000_000, 25_000_000, 6_000, 360), 119_910, 20_000_000, 23_167_704, 6.000);
}

#[test]
fn case_02_one_point() {
    // As case 1 with 1 point = 2,000.00: amount financed 198,000.00, finance charge 231,677.04 + 2,000 =
    // 233,677.04. APR: 198,000/1,199.10 = 165.12 payments' worth, the annuity factor of 0.50783% a month: 6.094%.
    let mut i = base(20_000_000, 25_000_000, 6_000, 360);
    i.points_bps = 100;
    check(&i, 119_910, 19_800_000, 23_367_704, 6.093989);
}

#[test]
fn case_03_point_and_prepaid_finance_charges_but_not_other_costs() {
    // Case 2 plus an origination fee of 1,500.00 (a finance charge) and appraisal 650 + title 250 (not): amount
    // financed 200,000 − 2,000 − 1,500 = 196,500.00; finance charge 235,177.04; APR 6.165%.
    let mut i = base(20_000_000, 25_000_000, 6_000, 360);
    i.points_bps = 100;
    i.costs = vec![pfc("Origination", 150_000), other("Appraisal", 65_000), other("Title", 25_000)];
    let f = check(&i, 119_910, 19_650_000, 23_517_704, 6.165461);
    // Cash to close: 2,000 + 1,500 + 650 + 250 = 4,400.00.
    assert_eq!(f.closing_costs_cents, 440_000);
}

#[test]
fn case_04_fifteen_years_half_a_point() {
    // $250,000 at 6.5% for 15 years: 2,177.77. Half a point 1,250 + fees 1,200: amount financed 247,550.00.
    // Total of payments 391,998.15, finance charge 144,448.15, APR 6.656%.
    let mut i = base(25_000_000, 40_000_000, 6_500, 180);
    i.points_bps = 50;
    i.costs = vec![pfc("Lender fees", 120_000)];
    check(&i, 217_777, 24_755_000, 14_444_815, 6.656409);
}

#[test]
fn case_05_odd_first_period_of_45_days() {
    // Case 1 closing 15 Jan 2026, first payment 1 Mar 2026: 45 days, one month (1 Feb – 1 Mar) and 17 days
    // (t = 1, f = 17/30). Prepaid interest 15 Jan – 1 Feb: 200,000 × 6% × 17/365 = 558.90, a prepaid finance
    // charge: amount financed 199,441.10, finance charge 232,235.94. The longer first period and the prepaid
    // interest nearly cancel: APR 5.9997%.
    let mut i = base(20_000_000, 25_000_000, 6_000, 360);
    i.closing_date = d(2026, 1, 15);
    let f = check(&i, 119_910, 19_944_110, 23_223_594, 5.999713);
    assert_eq!((f.prepaid_interest_days, f.prepaid_interest_cents), (17, 55_890));
}

#[test]
fn case_06_short_odd_period_with_a_point() {
    // $300,000 at 7%, 1 point (3,000), closing 28 Jan 2026, first payment 1 Mar: 4 days' interest
    // 300,000 × 7% × 4/365 = 230.14; f = 4/30. Payment 1,995.91. Amount financed 296,769.86, finance charge
    // 421,754.19, APR 7.0997%.
    let mut i = base(30_000_000, 40_000_000, 7_000, 360);
    i.points_bps = 100;
    i.closing_date = d(2026, 1, 28);
    check(&i, 199_591, 29_676_986, 42_175_419, 7.099728);
}

#[test]
fn case_07_fha_upfront_and_annual_premium() {
    // FHA $300,000 base, value 310,880.83 (96.5% LTV). UFMIP 1.75% = 5,250.00 financed: loan 305,250.00 at
    // 6.25%, payment 1,879.48. Annual MIP 0.55% of the first year's average balance (about 303,630) / 12 =
    // 139.16, for the whole term (LTV over 90%). Prepaid finance charges: UFMIP 5,250 + fees 1,000 = 6,250:
    // amount financed 299,000.00. Finance charge 410,288.63, APR 7.006%.
    let mut i = base(30_000_000, 31_088_083, 6_250, 360);
    i.program = "fha".into();
    i.fha_upfront_bps = 175;
    i.fha_annual_bps = 55;
    i.costs = vec![pfc("Lender fees", 100_000)];
    let f = check(&i, 187_948, 29_900_000, 41_028_863, 7.006040);
    assert_eq!((f.upfront_premium_cents, f.monthly_mi_cents, f.mi_months), (525_000, 13_916, 360));
}

#[test]
fn case_08_conventional_pmi_until_78_percent() {
    // $380,000 on a $400,000 home (95%) at 6.75%: 2,464.67. PMI 0.50% a year of 380,000 / 12 = 158.33, paid
    // until the scheduled balance reaches 78% of 400,000 = 312,000: 139 months. Fees 2,000 (finance charges):
    // amount financed 378,000.00, finance charge 531,292.39, APR 7.1999%.
    let mut i = base(38_000_000, 40_000_000, 6_750, 360);
    i.pmi_annual_bps = 50;
    i.costs = vec![pfc("Lender fees", 200_000)];
    let f = check(&i, 246_467, 37_800_000, 53_129_239, 7.199945);
    assert_eq!((f.monthly_mi_cents, f.mi_months), (15_833, 139));
}

#[test]
fn case_09_va_funding_fee() {
    // VA $400,000 at 6.125% on a $400,000 home; funding fee 2.15% = 8,600.00 financed: loan 408,600.00, payment
    // 2,482.70. The fee is a prepaid finance charge: amount financed 400,000.00, finance charge 493,768.55,
    // APR 6.326%.
    let mut i = base(40_000_000, 40_000_000, 6_125, 360);
    i.program = "va".into();
    i.va_funding_fee_bps = 215;
    check(&i, 248_270, 40_000_000, 49_376_855, 6.326086);
}

#[test]
fn case_10_lender_credit_pays_finance_charges_first() {
    // $200,000 at 6.5% (1,264.14) with a half-point credit (−1,000.00) against 3,000.00 of lender fees: prepaid
    // finance charges 2,000.00, amount financed 198,000.00, finance charge 257,085.82, APR 6.597%.
    let mut i = base(20_000_000, 25_000_000, 6_500, 360);
    i.points_bps = -50;
    i.costs = vec![pfc("Lender fees", 300_000)];
    let f = check(&i, 126_414, 19_800_000, 25_708_582, 6.596876);
    assert_eq!((f.points_cents, f.closing_costs_cents), (-100_000, 200_000));
}

#[test]
fn case_11_prepaid_mortgage_insurance() {
    // $270,000 at 6.875% (1,773.71) with single-premium MI of 3,500.00 paid at closing and 5,400.00 of fees, both
    // prepaid finance charges: amount financed 261,100.00, finance charge 377,432.92, APR 7.208%.
    let mut i = base(27_000_000, 30_000_000, 6_875, 360);
    i.costs = vec![pfc("Single-premium mortgage insurance", 350_000), pfc("Lender fees", 540_000)];
    check(&i, 177_371, 26_110_000, 37_743_292, 7.207874);
}

#[test]
fn case_12_twenty_years_odd_period_points_and_fees() {
    // $150,000 at 5.875% for 20 years (1,063.86), 1.25 points (1,875.00), fees 950, closing 10 Apr 2026 with
    // the first payment 1 Jun: 21 days' interest 150,000 × 5.875% × 21/365 = 507.02; t = 1, f = 21/30.
    // Amount financed 146,667.98, finance charge 108,657.35, APR 6.110%.
    let mut i = base(15_000_000, 30_000_000, 5_875, 240);
    i.points_bps = 125;
    i.costs = vec![pfc("Lender fees", 95_000)];
    i.closing_date = d(2026, 4, 10);
    i.first_payment_date = d(2026, 6, 1);
    check(&i, 106_386, 14_666_798, 10_865_735, 6.109717);
}

#[test]
fn an_arm_shows_both_paths_and_its_composite_apr() {
    // $300,000 5/6 ARM at 6% with 2/1/5 caps, margin 2.75%, index today 4.30%: fully indexed 7.05%.
    let mut i = base(30_000_000, 40_000_000, 6_000, 360);
    i.rate_type = "arm".into();
    i.arm = Some(ArmTerms {
        initial_months: 60,
        adjust_months: 6,
        initial_cap: 2_000,
        periodic_cap: 1_000,
        lifetime_cap: 5_000,
        margin: 2_750,
    });
    i.index_milli = Some(4_300);
    assert!(validate(&i).is_empty());
    let f = figures(&i);
    let arm = f.arm.as_ref().unwrap();
    assert_eq!(arm.fully_indexed_milli, 7_050);
    // Today's index: 1,798.65 for 60 months, then 7.05% on 279,163.18 over 300 months:
    // r = 0.005875, 279,163.18 × r / (1 − 1.005875^−300) = 1,981.98.
    assert_eq!(arm.todays_index.len(), 2);
    assert_eq!((arm.todays_index[0].month, arm.todays_index[0].payment_cents), (1, 179_865));
    assert_eq!((arm.todays_index[1].month, arm.todays_index[1].rate_milli), (61, 7_050));
    assert!((arm.todays_index[1].payment_cents - 198_198).abs() <= 2, "{:?}", arm.todays_index[1]);
    // Worst case: 8% at 61 (2,154.63, see amortize), 9% at 67, 10% at 73, 11% from 79.
    let rates: Vec<(u32, i32)> = arm.worst_case.iter().map(|s| (s.month, s.rate_milli)).collect();
    assert_eq!(rates, vec![(1, 6_000), (61, 8_000), (67, 9_000), (73, 10_000), (79, 11_000)]);
    assert!((arm.worst_case[1].payment_cents - 215_463).abs() <= 2);
    assert_eq!(arm.worst_case_max_payment_cents, arm.worst_case[4].payment_cents);
    // The composite APR lies between the start rate and the fully indexed rate.
    assert!(f.apr_exact > 6.0 && f.apr_exact < 7.05, "{}", f.apr_exact);
}

#[test]
fn the_comparison_marks_the_cheapest_option_per_horizon_and_the_break_even() {
    // A: 6.5%, no points (1,264.14). B: 6.0% with 1 point, 2,000.00 more at closing, 1,199.10 a month: it saves
    // 65.04 a month, so the point is repaid in 2,000/65.04 = 30.75, i.e. 31 months.
    let mut a = base(20_000_000, 25_000_000, 6_500, 360);
    a.costs = vec![other("Title", 100_000)];
    let mut b = base(20_000_000, 25_000_000, 6_000, 360);
    b.points_bps = 100;
    b.costs = vec![other("Title", 100_000)];
    let (fa, fb) = (figures(&a), figures(&b));
    let marks = compare(&[(&fa, 0), (&fb, 100)]);
    assert_eq!(marks.baseline, Some(0));
    assert_eq!(marks.break_even, vec![None, Some(31)]);
    // At 5 years B has paid 2,000 more up front but about 5,800 less interest: B is best at every horizon.
    assert_eq!(marks.best, vec![(60, 1), (84, 1), (120, 1), (0, 1)]);
    // With 4 points (8,000.00) B saves the same 65.04 a month: 8,000/65.04 = 123.001,
    // so the 124th month.
    b.points_bps = 400;
    let fb = figures(&b);
    let marks = compare(&[(&fa, 0), (&fb, 400)]);
    assert_eq!(marks.break_even, vec![None, Some(124)]);
    assert_eq!(marks.best[0], (60, 0));
}

#[test]
fn inputs_out_of_range_are_refused_by_field() {
    let mut i = base(0, 25_000_000, 0, 100);
    i.program = "heloc".into();
    i.first_payment_date = d(2026, 2, 1);
    let fields: Vec<&str> = validate(&i).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, vec!["program", "loan_amount", "rate", "term_years", "first_payment_date"]);
}

#[test]
fn amounts_past_a_billion_dollars_are_refused_before_any_arithmetic() {
    let mut i = base(i64::MAX, i64::MAX, 6_000, 360);
    i.costs = vec![pfc("Huge", i64::MAX)];
    i.monthly_taxes_cents = i64::MAX;
    let fields: Vec<&str> = validate(&i).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, vec!["property_value", "loan_amount", "monthly_taxes", "costs"]);
}
