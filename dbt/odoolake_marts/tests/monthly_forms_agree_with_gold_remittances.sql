-- The months remitted with 0619-E/0619-F agree to the centavo with what the BIR forms step put in
-- gold.remittances for the same agency, form and month (computed apart from this model, in the pipeline).
with mart as (
    select agency, ewt_form as form, period, ewt_withheld as withheld from {{ ref('monthly_remittance') }}
    where ewt_form = '0619-E'
    union all
    select agency, fwt_form, period, fwt_withheld from {{ ref('monthly_remittance') }}
    where fwt_form = '0619-F'
),
forms as (
    select agency, form, period, total_withheld as withheld from {{ source('gold', 'remittances') }}
    where form in ('0619-E', '0619-F')
)
select coalesce(m.agency, f.agency) as agency, coalesce(m.form, f.form) as form,
       coalesce(m.period, f.period) as period, m.withheld as in_mart, f.withheld as in_forms
from mart m
full outer join forms f on m.agency = f.agency and m.form = f.form and m.period = f.period
where m.withheld is null or f.withheld is null or m.withheld <> f.withheld
