-- Service index: the procedure catalogue as it stood at the cut, one row
-- per procedure with the newest reported value of each index field (-1 or
-- 0: not reported). The engine counts the publicity and payment-coverage
-- indicators from it and applies the procedure flags to the dossiers.
SELECT code, toString(status) AS status,
       p_decision, p_basis, p_posted, p_complete, p_full_online, p_fee_bearing, p_online_payment, p_paper_result, p_population_linked,
       toInt64(newest) AS newest_ms
FROM (
    SELECT code,
           argMax(status, k) AS status,
           argMaxIf(decision_ms, k, decision_ms > 0) AS p_decision,
           argMaxIf(basis_in_force_ms, k, basis_in_force_ms > 0) AS p_basis,
           argMaxIf(posted_ms, k, posted_ms > 0) AS p_posted,
           argMaxIf(posted_complete, k, posted_complete >= 0) AS p_complete,
           argMaxIf(full_online, k, full_online >= 0) AS p_full_online,
           argMaxIf(fee_bearing, k, fee_bearing >= 0) AS p_fee_bearing,
           argMaxIf(online_payment, k, online_payment >= 0) AS p_online_payment,
           argMaxIf(paper_result, k, paper_result >= 0) AS p_paper_result,
           argMaxIf(population_linked, k, population_linked >= 0) AS p_population_linked,
           max(at_ms) AS newest
    FROM (SELECT code, status, at_ms, version, decision_ms, basis_in_force_ms, posted_ms, posted_complete, full_online,
                 fee_bearing, online_payment, paper_result, population_linked, (at_ms, toUInt8(status), version) AS k
          FROM {{raw "procedure_events_raw"}} WHERE at_ms <= {{.Cut}})
    GROUP BY code
)
ORDER BY code
