-- The mart's grain: a second row for an agency and month is an error.
select agency, period, count(*) as n
from {{ ref('monthly_remittance') }}
group by agency, period
having count(*) > 1
