//! The options workout: repayment plan, forbearance, a Flex-style modification waterfall, short sale and
//! deed-in-lieu, in integer cents.
//!
//! Amortisation: `payment = P * r / (1 - (1 + r)^-n)` with `r` the annual percent rate / 1200. Only the power
//! and division are done in `f64`; the result is rounded to the nearest cent (`f64::round`, halves away from
//! zero) at once, so every payment shown and stored is an exact integer number of cents, the same on every
//! machine. A zero rate amortises straight-line (`P / n`, rounded up to the cent).

use serde::Serialize;

/// The monthly principal and interest on `principal_cents` at `rate_percent` over `months`.
pub fn monthly_payment_cents(principal_cents: i64, rate_percent: f64, months: i32) -> i64 {
    if principal_cents <= 0 || months <= 0 {
        return 0;
    }
    if rate_percent <= 0.0 {
        return (principal_cents + i64::from(months) - 1) / i64::from(months);
    }
    let r = rate_percent / 1200.0;
    let factor = 1.0 - (1.0 + r).powi(-months);
    (principal_cents as f64 * r / factor).round() as i64
}

/// The largest principal whose payment at `rate_percent` over `months` does not exceed `payment_cents`.
pub fn principal_for_payment_cents(payment_cents: i64, rate_percent: f64, months: i32) -> i64 {
    if payment_cents <= 0 || months <= 0 {
        return 0;
    }
    let mut p = if rate_percent <= 0.0 {
        payment_cents * i64::from(months)
    } else {
        let r = rate_percent / 1200.0;
        (payment_cents as f64 * (1.0 - (1.0 + r).powi(-months)) / r).floor() as i64
    };
    // The inverse is computed in floating point; step to the exact cent the forward formula accepts.
    while p > 0 && monthly_payment_cents(p, rate_percent, months) > payment_cents {
        p -= 1;
    }
    while monthly_payment_cents(p + 1, rate_percent, months) <= payment_cents {
        p += 1;
    }
    p
}

/// A ratio in basis points (1/100 of a percent), rounded to the nearest basis point.
pub fn ratio_bps(numerator_cents: i64, denominator_cents: i64) -> Option<i64> {
    if denominator_cents <= 0 {
        return None;
    }
    Some((numerator_cents * 10_000 * 2 + denominator_cents) / (denominator_cents * 2))
}

/// Basis points as "31.25%".
pub fn format_bps(bps: i64) -> String {
    let sign = if bps < 0 { "-" } else { "" };
    let b = bps.abs();
    format!("{sign}{}.{:02}%", b / 100, b % 100)
}

/// Cents as "$1,234.56" (the one implementation: `web::money`).
pub use crate::web::money::cents as format_cents;

/// Housing ratio (PITI / gross income) and DTI ((PITI + other debts) / gross income), in basis points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ratios {
    pub housing_bps: Option<i64>,
    pub dti_bps: Option<i64>,
}

pub fn ratios(housing_payment_cents: i64, other_debts_cents: i64, gross_income_cents: i64) -> Ratios {
    Ratios {
        housing_bps: ratio_bps(housing_payment_cents, gross_income_cents),
        dti_bps: ratio_bps(housing_payment_cents + other_debts_cents, gross_income_cents),
    }
}

// ---------------------------------------------------------------- repayment plan

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepaymentPlan {
    pub months: i32,
    /// Arrears added to each month's payment: the arrears divided by the months, rounded down to the cent.
    pub installment_cents: i64,
    /// The last month takes the remainder (at most `months - 1` cents more than the others).
    pub last_installment_cents: i64,
    /// Contractual payment plus the largest installment.
    pub plan_payment_cents: i64,
    /// Plan payment as a share of the contractual payment.
    pub payment_ratio_bps: i64,
    /// Plan payment above 150% of the contractual payment.
    pub flag_payment_over_150: bool,
    /// Plan longer than 12 months.
    pub flag_term_over_12: bool,
}

/// Spreads `arrears_cents` over `months` on top of the contractual payment (P&I plus escrow).
pub fn repayment_plan(contractual_payment_cents: i64, arrears_cents: i64, months: i32) -> Option<RepaymentPlan> {
    if months <= 0 || contractual_payment_cents <= 0 || arrears_cents < 0 {
        return None;
    }
    let m = i64::from(months);
    let installment = arrears_cents / m;
    let last = arrears_cents - installment * (m - 1);
    let plan_payment = contractual_payment_cents + last.max(installment);
    Some(RepaymentPlan {
        months,
        installment_cents: installment,
        last_installment_cents: last,
        plan_payment_cents: plan_payment,
        payment_ratio_bps: ratio_bps(plan_payment, contractual_payment_cents).unwrap_or(0),
        flag_payment_over_150: plan_payment * 2 > contractual_payment_cents * 3,
        flag_term_over_12: months > 12,
    })
}

// ---------------------------------------------------------------- forbearance

/// The most months of forbearance a borrower may have in total.
pub const FORBEARANCE_CAP_MONTHS: i32 = 12;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forbearance {
    pub requested_months: i32,
    /// Months granted after the cumulative cap.
    pub months: i32,
    pub cumulative_months: i32,
    /// The request was cut back to stay within 12 cumulative months.
    pub capped: bool,
    pub reduced_payment_cents: i64,
    pub suspended: bool,
    /// The contractual payments not paid during the forbearance, owed at its end.
    pub shortfall_cents: i64,
}

/// A reduced (or, with `reduced_payment_cents` 0, suspended) payment for `requested_months`, after
/// `prior_months` already granted.
pub fn forbearance(
    contractual_payment_cents: i64,
    reduced_payment_cents: i64,
    requested_months: i32,
    prior_months: i32,
) -> Option<Forbearance> {
    if requested_months <= 0
        || prior_months < 0
        || reduced_payment_cents < 0
        || reduced_payment_cents >= contractual_payment_cents
    {
        return None;
    }
    let available = (FORBEARANCE_CAP_MONTHS - prior_months).max(0);
    let months = requested_months.min(available);
    Some(Forbearance {
        requested_months,
        months,
        cumulative_months: prior_months + months,
        capped: months < requested_months,
        reduced_payment_cents,
        suspended: reduced_payment_cents == 0,
        shortfall_cents: (contractual_payment_cents - reduced_payment_cents) * i64::from(months),
    })
}

// ---------------------------------------------------------------- modification

/// The inputs of the modification waterfall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModificationInput {
    pub upb_cents: i64,
    /// Past-due interest, escrow advances and fees to capitalise.
    pub arrears_cents: i64,
    pub note_rate_percent: f64,
    pub remaining_term_months: i32,
    /// The contractual P&I the reduction is measured against.
    pub current_pi_cents: i64,
    pub monthly_escrow_cents: i64,
    /// The current market / modification rate.
    pub modification_rate_percent: f64,
    pub gross_income_cents: i64,
    pub other_debts_cents: i64,
}

/// The program parameters: target P&I reduction, longest term, principal forbearance limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModificationProgram {
    pub target_reduction_bps: i64,
    pub max_term_months: i32,
    /// Largest principal forbearance as a share of the capitalised balance.
    pub forbearance_limit_bps: i64,
}

/// GSE Flex Modification style: 20% target, 480 months, up to 30% of the post-capitalisation UPB forborne.
pub const FLEX: ModificationProgram =
    ModificationProgram { target_reduction_bps: 2_000, max_term_months: 480, forbearance_limit_bps: 3_000 };

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaterfallStep {
    pub step: &'static str,
    pub pi_cents: i64,
    pub reduction_bps: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Modification {
    pub capitalised_upb_cents: i64,
    pub rate_percent: f64,
    pub term_months: i32,
    pub forborne_principal_cents: i64,
    pub interest_bearing_upb_cents: i64,
    pub target_pi_cents: i64,
    pub new_pi_cents: i64,
    pub new_payment_cents: i64,
    pub reduction_bps: i64,
    pub target_met: bool,
    pub steps: Vec<WaterfallStep>,
    pub ratios: Ratios,
}

/// Runs the waterfall: (1) capitalise arrears; (2) set the rate to the modification rate, never above the
/// note rate; (3) extend the term to the program maximum; (4) forbear principal (non-interest-bearing) until
/// the P&I is at or below the target, up to the program limit. Stops at the first step that reaches the target.
pub fn modification(input: &ModificationInput, program: ModificationProgram) -> Modification {
    let reduction = |pi: i64| {
        if input.current_pi_cents <= 0 {
            0
        } else {
            ratio_bps(input.current_pi_cents - pi, input.current_pi_cents).unwrap_or(0)
        }
    };
    // Target P&I: the current P&I less the target reduction, rounded down to the cent.
    let target = input.current_pi_cents * (10_000 - program.target_reduction_bps) / 10_000;
    let capitalised = input.upb_cents + input.arrears_cents.max(0);
    let mut steps = Vec::new();
    let mut rate = input.note_rate_percent;
    let mut term = input.remaining_term_months;
    let mut forborne = 0;

    let pi = monthly_payment_cents(capitalised, rate, term);
    steps.push(WaterfallStep { step: "Capitalise arrears", pi_cents: pi, reduction_bps: reduction(pi) });
    let mut current = pi;
    if current > target {
        rate = input.modification_rate_percent.min(input.note_rate_percent);
        current = monthly_payment_cents(capitalised, rate, term);
        steps.push(WaterfallStep {
            step: "Set the modification rate",
            pi_cents: current,
            reduction_bps: reduction(current),
        });
    }
    if current > target && term < program.max_term_months {
        term = program.max_term_months;
        current = monthly_payment_cents(capitalised, rate, term);
        steps.push(WaterfallStep { step: "Extend the term", pi_cents: current, reduction_bps: reduction(current) });
    }
    if current > target {
        let limit = capitalised * program.forbearance_limit_bps / 10_000;
        let needed = capitalised - principal_for_payment_cents(target, rate, term);
        forborne = needed.clamp(0, limit);
        current = monthly_payment_cents(capitalised - forborne, rate, term);
        steps.push(WaterfallStep { step: "Forbear principal", pi_cents: current, reduction_bps: reduction(current) });
    }
    let new_payment = current + input.monthly_escrow_cents;
    Modification {
        capitalised_upb_cents: capitalised,
        rate_percent: rate,
        term_months: term,
        forborne_principal_cents: forborne,
        interest_bearing_upb_cents: capitalised - forborne,
        target_pi_cents: target,
        new_pi_cents: current,
        new_payment_cents: new_payment,
        reduction_bps: reduction(current),
        target_met: current <= target,
        steps,
        ratios: ratios(new_payment, input.other_debts_cents, input.gross_income_cents),
    }
}

// ---------------------------------------------------------------- liquidation options

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShortSale {
    pub list_price_cents: i64,
    pub closing_costs_cents: i64,
    pub net_proceeds_cents: i64,
    /// Total debt (UPB plus arrears) less the net proceeds.
    pub shortfall_cents: i64,
    /// Net proceeds as a share of the market value.
    pub net_to_value_bps: Option<i64>,
}

/// A short sale at `list_price_cents` with sale costs, against the total debt.
pub fn short_sale(
    total_debt_cents: i64,
    market_value_cents: i64,
    list_price_cents: i64,
    closing_costs_cents: i64,
) -> ShortSale {
    let net = list_price_cents - closing_costs_cents;
    ShortSale {
        list_price_cents,
        closing_costs_cents,
        net_proceeds_cents: net,
        shortfall_cents: (total_debt_cents - net).max(0),
        net_to_value_bps: ratio_bps(net, market_value_cents),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeedInLieu {
    pub market_value_cents: i64,
    pub shortfall_cents: i64,
    pub relocation_assistance_cents: i64,
    /// A deed-in-lieu needs clear title (no second liens or judgments).
    pub title_clear: bool,
    pub eligible: bool,
}

pub fn deed_in_lieu(
    total_debt_cents: i64,
    market_value_cents: i64,
    relocation_assistance_cents: i64,
    title_clear: bool,
) -> DeedInLieu {
    DeedInLieu {
        market_value_cents,
        shortfall_cents: (total_debt_cents - market_value_cents).max(0),
        relocation_assistance_cents,
        title_clear,
        eligible: title_clear && market_value_cents > 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_payment() {
        // $200,000 at 6% for 360 months: r = 0.005, (1.005)^360 = 6.0225752,
        // 200000 * 0.005 * 6.0225752 / 5.0225752 = 1199.1010 -> $1,199.10.
        assert_eq!(monthly_payment_cents(20_000_000, 6.0, 360), 119_910);
        // Zero rate: $1,000.00 over 3 months -> 333.34 (rounded up).
        assert_eq!(monthly_payment_cents(100_000, 0.0, 3), 33_334);
        // And the inverse gives back a principal whose payment is within the cent.
        let p = principal_for_payment_cents(119_910, 6.0, 360);
        assert_eq!(monthly_payment_cents(p, 6.0, 360), 119_910);
        assert!(monthly_payment_cents(p + 1, 6.0, 360) > 119_910);
        assert!((p - 20_000_000).abs() < 100, "{p}");
    }

    #[test]
    fn formats() {
        assert_eq!(format_cents(123_456_789), "$1,234,567.89");
        assert_eq!(format_cents(-5), "-$0.05");
        assert_eq!(format_bps(3_125), "31.25%");
        // 1,500 / 4,800 = 0.3125 -> 3125 bps
        assert_eq!(ratio_bps(150_000, 480_000), Some(3_125));
        assert_eq!(ratio_bps(1, 0), None);
    }

    #[test]
    fn repayment_plan_at_and_over_150_percent() {
        // Contractual $1,500.00; arrears $4,500.00 over 6 months -> $750.00 a month -> $2,250.00 = exactly
        // 150% of $1,500.00: not flagged.
        let p = repayment_plan(150_000, 450_000, 6).unwrap();
        assert_eq!(p.installment_cents, 75_000);
        assert_eq!(p.last_installment_cents, 75_000);
        assert_eq!(p.plan_payment_cents, 225_000);
        assert_eq!(p.payment_ratio_bps, 15_000);
        assert!(!p.flag_payment_over_150 && !p.flag_term_over_12);
        // Over 5 months: $900.00 a month -> $2,400.00 = 160%: flagged.
        let p = repayment_plan(150_000, 450_000, 5).unwrap();
        assert_eq!(p.plan_payment_cents, 240_000);
        assert_eq!(p.payment_ratio_bps, 16_000);
        assert!(p.flag_payment_over_150);
        // $1,000.00 over 3 months: 333.33, 333.33, last 333.34 (1000.00 - 666.66); plan payment uses the largest.
        let p = repayment_plan(150_000, 100_000, 3).unwrap();
        assert_eq!((p.installment_cents, p.last_installment_cents), (33_333, 33_334));
        assert_eq!(p.plan_payment_cents, 183_334);
        // One cent over three months: 0, 0, 0.01 (never a negative installment).
        let p = repayment_plan(150_000, 1, 3).unwrap();
        assert_eq!((p.installment_cents, p.last_installment_cents), (0, 1));
        // 13 months: term flag.
        assert!(repayment_plan(150_000, 130_000, 13).unwrap().flag_term_over_12);
        assert!(repayment_plan(150_000, 130_000, 0).is_none());
    }

    #[test]
    fn forbearance_capped_at_twelve_cumulative_months() {
        // $1,500.00 reduced to $500.00 for 6 months after 4 prior: 10 cumulative; shortfall 6 x $1,000.00.
        let f = forbearance(150_000, 50_000, 6, 4).unwrap();
        assert_eq!((f.months, f.cumulative_months, f.capped, f.shortfall_cents), (6, 10, false, 600_000));
        // Suspended for 10 after 4 prior: only 8 more allowed; shortfall 8 x $1,500.00 = $12,000.00.
        let f = forbearance(150_000, 0, 10, 4).unwrap();
        assert_eq!(
            (f.months, f.cumulative_months, f.capped, f.suspended, f.shortfall_cents),
            (8, 12, true, true, 1_200_000)
        );
        assert_eq!(forbearance(150_000, 0, 3, 12).unwrap().months, 0);
        assert!(forbearance(150_000, 150_000, 3, 0).is_none());
    }

    #[test]
    fn modification_reaches_target_by_rate_and_term() {
        // UPB $200,000.00 + arrears $10,000.00 = $210,000.00; note 8% over 300 months; current P&I $1,600.00.
        // Target = 1600.00 x 0.80 = $1,280.00.
        // (1) capitalise: 210000 at 8%/300: r = 0.0066667, (1+r)^300 = 7.3402, payment = 210000 x 0.0066667 x
        //     7.3402 / 6.3402 = $1,620.81 (above target).
        // (2) rate 6%: r = 0.005, (1.005)^300 = 4.4650, 210000 x 0.005 x 4.4650 / 3.4650 = $1,353.03.
        // (3) term 480: (1.005)^480 = 10.9575, 210000 x 0.005 x 10.9575 / 9.9575 = $1,155.45 <= $1,280.00: stop.
        //     Reduction = (1600.00 - 1155.45) / 1600.00 = 27.78%.
        let m = modification(
            &ModificationInput {
                upb_cents: 20_000_000,
                arrears_cents: 1_000_000,
                note_rate_percent: 8.0,
                remaining_term_months: 300,
                current_pi_cents: 160_000,
                monthly_escrow_cents: 40_000,
                modification_rate_percent: 6.0,
                gross_income_cents: 600_000,
                other_debts_cents: 50_000,
            },
            FLEX,
        );
        assert_eq!(m.target_pi_cents, 128_000);
        assert_eq!(m.steps.iter().map(|s| s.pi_cents).collect::<Vec<_>>(), vec![162_081, 135_303, 115_545]);
        assert_eq!(m.forborne_principal_cents, 0);
        assert_eq!(m.new_pi_cents, 115_545);
        assert_eq!(m.new_payment_cents, 155_545); // + $400.00 escrow
        assert_eq!(m.reduction_bps, 2_778); // 44455 / 160000 = 0.277844
        assert!(m.target_met);
        // Housing 1555.45 / 6000.00 = 25.92%; DTI (1555.45 + 500.00) / 6000.00 = 34.26%.
        assert_eq!(m.ratios, Ratios { housing_bps: Some(2_592), dti_bps: Some(3_426) });
    }

    #[test]
    fn modification_forbears_principal_to_reach_twenty_percent() {
        // UPB $180,000.00 + arrears $15,000.00 = $195,000.00; note 7.5%, 300 months; current P&I $1,330.18.
        // Target = 1330.18 x 0.8 = 1064.144 -> $1,064.14.
        // Rate 6.5%, 480 months: r = 0.00541667, (1+r)^480 = 13.3816, 195000 x r x 13.3816 / 12.3816 = $1,141.64
        //   (reduction 14.17%: short of the target).
        // Interest-bearing principal for $1,064.14: 1064.14 x (1 - 13.3816^-1) / r = $181,763.19 (largest
        //   principal whose payment rounds to <= $1,064.14), so forborne = 195,000.00 - 181,763.19 = $13,236.81,
        //   well within 30% x 195,000.00 = $58,500.00. New P&I $1,064.14, reduction 266.04 / 1330.18 = 20.00%.
        let input = ModificationInput {
            upb_cents: 18_000_000,
            arrears_cents: 1_500_000,
            note_rate_percent: 7.5,
            remaining_term_months: 300,
            current_pi_cents: 133_018,
            monthly_escrow_cents: 35_000,
            modification_rate_percent: 6.5,
            gross_income_cents: 520_000,
            other_debts_cents: 60_000,
        };
        let m = modification(&input, FLEX);
        assert_eq!(m.target_pi_cents, 106_414);
        assert_eq!(m.steps[2].pi_cents, 114_164);
        assert_eq!(m.steps[2].reduction_bps, 1_417);
        assert_eq!(m.new_pi_cents, 106_414);
        assert_eq!(m.interest_bearing_upb_cents, 18_176_319);
        assert_eq!(m.forborne_principal_cents, 1_323_681);
        assert_eq!(m.reduction_bps, 2_000);
        assert!(m.target_met);
        // Housing (1064.14 + 350.00) / 5200.00 = 27.20%; DTI (1414.14 + 600.00) / 5200.00 = 38.73%.
        assert_eq!(m.ratios, Ratios { housing_bps: Some(2_720), dti_bps: Some(3_873) });

        // With a 5% forbearance limit ($9,750.00) the target is missed: 185,250.00 at 6.5%/480 = $1,084.56.
        let capped = modification(&input, ModificationProgram { forbearance_limit_bps: 500, ..FLEX });
        assert_eq!(capped.forborne_principal_cents, 975_000);
        assert_eq!(capped.new_pi_cents, 108_456);
        assert!(!capped.target_met);
    }

    #[test]
    fn rate_is_never_raised() {
        // Note 4% below the 6.5% modification rate: the rate stays 4%.
        let m = modification(
            &ModificationInput {
                upb_cents: 10_000_000,
                arrears_cents: 0,
                note_rate_percent: 4.0,
                remaining_term_months: 240,
                current_pi_cents: 80_000,
                monthly_escrow_cents: 0,
                modification_rate_percent: 6.5,
                gross_income_cents: 0,
                other_debts_cents: 0,
            },
            FLEX,
        );
        assert_eq!(m.rate_percent, 4.0);
        assert_eq!(m.ratios.housing_bps, None);
    }

    #[test]
    fn short_sale_and_deed_in_lieu() {
        // Debt $210,000.00; list $190,000.00 less $13,300.00 costs = net $176,700.00; shortfall $33,300.00;
        // net to value 176,700 / 195,000 = 90.62%.
        let s = short_sale(21_000_000, 19_500_000, 19_000_000, 1_330_000);
        assert_eq!(s.net_proceeds_cents, 17_670_000);
        assert_eq!(s.shortfall_cents, 3_330_000);
        assert_eq!(s.net_to_value_bps, Some(9_062));
        let d = deed_in_lieu(21_000_000, 19_500_000, 300_000, true);
        assert_eq!(d.shortfall_cents, 1_500_000);
        assert!(d.eligible);
        assert!(!deed_in_lieu(21_000_000, 19_500_000, 0, false).eligible);
    }

    proptest::proptest! {
        #[test]
        fn plan_installments_add_up_to_the_arrears(arrears in 0i64..50_000_000, months in 1i32..60) {
            let p = repayment_plan(150_000, arrears, months).unwrap();
            proptest::prop_assert_eq!(p.installment_cents * i64::from(months - 1) + p.last_installment_cents, arrears);
            proptest::prop_assert!(p.installment_cents >= 0 && p.last_installment_cents >= p.installment_cents);
            proptest::prop_assert!(p.last_installment_cents - p.installment_cents < i64::from(months));
        }

        #[test]
        fn principal_for_payment_is_the_exact_inverse(payment in 1_000i64..2_000_000, rate in 0.0f64..15.0, months in 12i32..481) {
            let p = principal_for_payment_cents(payment, rate, months);
            proptest::prop_assert!(monthly_payment_cents(p, rate, months) <= payment);
            proptest::prop_assert!(monthly_payment_cents(p + 1, rate, months) > payment || rate == 0.0);
        }

        #[test]
        fn modification_never_raises_the_payment_and_respects_the_limits(
            upb in 5_000_000i64..80_000_000, arrears in 0i64..5_000_000, note in 2.0f64..10.0,
            term in 60i32..360, market in 2.0f64..10.0,
        ) {
            let pi = monthly_payment_cents(upb, note, term);
            let m = modification(&ModificationInput {
                upb_cents: upb, arrears_cents: arrears, note_rate_percent: note, remaining_term_months: term,
                current_pi_cents: pi, monthly_escrow_cents: 0, modification_rate_percent: market,
                gross_income_cents: 0, other_debts_cents: 0,
            }, FLEX);
            proptest::prop_assert!(m.rate_percent <= note);
            proptest::prop_assert!(m.forborne_principal_cents <= m.capitalised_upb_cents * 3 / 10);
            proptest::prop_assert_eq!(m.interest_bearing_upb_cents + m.forborne_principal_cents, upb + arrears);
            proptest::prop_assert_eq!(m.target_met, m.new_pi_cents <= m.target_pi_cents);
            // Each waterfall step lowers (or keeps) the payment.
            for w in m.steps.windows(2) {
                proptest::prop_assert!(w[1].pi_cents <= w[0].pi_cents);
            }
            // Never above today's P&I: whenever the forbearance limit (30% of the capitalised balance) can absorb
            // the capitalised arrears (arrears at most 3/7 of the UPB), the rate (never above the note rate) and
            // the longer term bring the P&I to or below the current one; beyond that, never above the payment
            // with the arrears capitalised.
            if arrears * 7 <= upb * 3 {
                proptest::prop_assert!(m.new_pi_cents <= pi, "new P&I {} above the current {}", m.new_pi_cents, pi);
            }
            proptest::prop_assert!(m.new_pi_cents <= m.steps[0].pi_cents);
            if m.target_met {
                proptest::prop_assert!(m.new_pi_cents < pi);
            }
        }
    }
}
