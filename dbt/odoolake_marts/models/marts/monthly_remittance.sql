-- What each agency withholds in a month and remits with which form: months 1-2 of a quarter go with the
-- monthly remittance forms (0619-E for expanded, 0619-F for final withholding), the quarter's third month
-- with the quarterly returns (1601-EQ, 1601-FQ), which also settle what the monthly forms did not remit
-- (RR 1-2018, as gold.remittances computes it).
with tx as (
    select
        agency,
        period,
        year,
        month,
        month - (ceil(month / 3) - 1) * 3 as month_of_quarter,
        cast(withholding_tax as decimal(18, 2)) as ewt_withheld,
        cast(final_withholding_tax as decimal(18, 2)) as fwt_withheld,
        cast(withholding_to_classify + final_withholding_to_classify as decimal(18, 2)) as to_classify
    from {{ source('gold', 'bir_transactions') }}
)

select
    agency,
    period,
    year,
    month,
    concat(cast(year as string), '-Q', cast(ceil(month / 3) as string)) as quarter,
    case when month_of_quarter < 3 then '0619-E' else '1601-EQ' end as ewt_form,
    case when month_of_quarter < 3 then '0619-F' else '1601-FQ' end as fwt_form,
    ewt_withheld,
    fwt_withheld,
    cast(ewt_withheld + fwt_withheld as decimal(18, 2)) as total_withheld,
    to_classify
from tx
